"""The POS processing API (pos-api.md): parse, call one service, render. No business rules."""
