-- The bare SQL of one POS `confirm` (earn only, 15 lines), as the service sends it: the same
-- statements, tables, WHERE clauses, row locks and round trips as the earn-only confirm that
-- bench/profile.py captures (26 statements: auth lookup .. COMMIT), without Django, DRF or HTTP.
-- What differs: the card is found by its number computed here (EAN-13 check digit below), the
-- terminal by id instead of by key prefix, products by id instead of SKU, and the partner's
-- settlement account (cached per process by the service) by a sub-select. Every row it writes
-- keeps the ledger consistent (balanced legs, balance_after/version, lot), so
-- ledger_violations() still holds after a run.
--
-- Variables (bench/pgbench.py passes them with -D): customers, terminal_min, terminal_max,
-- product_min, product_max, currency, programme, promotion, total=1792.90, earned=35.86.
-- pgbench -n -M simple -f bench/pgbench_confirm.sql -c 16 -j 2 -T 30 -D ... loyalty_bench

\set i random(0, :customers - 1)
\set tid random(:terminal_min, :terminal_max)
\set rid random(1, 1000000000000)
\set s 29 + (:i / 10000000) % 10 + 3 * ((:i / 1000000) % 10) + (:i / 100000) % 10 + 3 * ((:i / 10000) % 10) + (:i / 1000) % 10 + 3 * ((:i / 100) % 10) + (:i / 10) % 10 + 3 * (:i % 10)
\set chk (10 - :s % 10) % 10
\set p1 random(:product_min, :product_max)
\set p2 random(:product_min, :product_max)
\set p3 random(:product_min, :product_max)
\set p4 random(:product_min, :product_max)
\set p5 random(:product_min, :product_max)
\set p6 random(:product_min, :product_max)
\set p7 random(:product_min, :product_max)
\set p8 random(:product_min, :product_max)
\set p9 random(:product_min, :product_max)
\set p10 random(:product_min, :product_max)
\set p11 random(:product_min, :product_max)
\set p12 random(:product_min, :product_max)
\set p13 random(:product_min, :product_max)
\set p14 random(:product_min, :product_max)
\set p15 random(:product_min, :product_max)

-- 1. auth: the terminal's key with its terminal, store and partner
SELECT k.id AS key_id, k.hashed_key, k.revoked, k.expiry_date, k.last_used_at, t.id AS t_id, t.store_id AS t_store, t.is_active AS t_active, s.partner_id AS t_partner, s.timezone, s.is_active AS s_active, p.name AS p_name FROM loyalty_terminalapikey k JOIN loyalty_terminal t ON t.id = k.terminal_id JOIN loyalty_store s ON s.id = t.store_id JOIN loyalty_partner p ON p.id = s.partner_id WHERE k.terminal_id = :tid AND NOT k.revoked AND (k.expiry_date IS NULL OR k.expiry_date > now()) LIMIT 1 \gset
-- 2. replay check
SELECT * FROM loyalty_receipt WHERE receipt_id = 'pgb-' || :rid AND terminal_id = :tid ORDER BY sold_at DESC LIMIT 1;
-- 3. card and customer
SELECT c.id AS card_id, c.customer_id AS cust_id, c.status AS card_status, cu.public_id, cu.registered_at FROM loyalty_card c JOIN crm_customer cu ON cu.id = c.customer_id WHERE c.number = '2900' || lpad(:i::text, 8, '0') || :chk::text LIMIT 1 \gset
-- 4. the customer's account(s)
SELECT id AS acc_id FROM loyalty_account WHERE currency_id IN (:currency) AND customer_id = :cust_id AND kind = 'customer' ORDER BY id \gset
BEGIN;
SET LOCAL lock_timeout = 2000;
SET LOCAL statement_timeout = 5000;
-- 5. lock the account
SELECT id, balance AS l_balance, pending AS l_pending, version AS l_version FROM loyalty_account WHERE id IN (:acc_id) ORDER BY id FOR NO KEY UPDATE OF loyalty_account \gset
-- 6. replay check under the lock
SELECT * FROM loyalty_receipt WHERE receipt_id = 'pgb-' || :rid AND terminal_id = :tid ORDER BY sold_at DESC LIMIT 1;
-- 7. lots due for activation or expiry
SELECT * FROM loyalty_lot l JOIN loyalty_account a ON a.id = l.account_id JOIN loyalty_currency cu ON cu.id = a.currency_id WHERE l.account_id IN (:acc_id) AND NOT l.remaining = 0 AND ((l.active_at <= now() AND l.state = 'pending') OR (l.expires_at <= now() AND l.kind = 'earn' AND l.state = 'active'));
-- 8. spendable points
SELECT SUM(remaining) AS total FROM loyalty_lot WHERE account_id = :acc_id AND NOT remaining = 0 AND ((kind = 'debt' AND state = 'active') OR (expires_at IS NULL AND state = 'active') OR (expires_at > now() AND state = 'active') OR (active_at <= now() AND state = 'pending' AND (expires_at IS NULL OR expires_at > now())));
-- 9. catalogue rows of the receipt's products
SELECT * FROM loyalty_product WHERE id IN (:p1, :p2, :p3, :p4, :p5, :p6, :p7, :p8, :p9, :p10, :p11, :p12, :p13, :p14, :p15) AND (partner_id IS NULL OR partner_id = :t_partner) ORDER BY name;
-- 10. tier of the customer (engine facts)
SELECT tier_id FROM loyalty_tiermembership WHERE customer_id = :cust_id AND programme_id = :programme ORDER BY id LIMIT 1;
-- 11-12. tier progress
SELECT m.id AS m_id, m.qualifying_amount AS m_amount, m.tier_id AS m_tier FROM loyalty_tiermembership m JOIN loyalty_tier t ON t.id = m.tier_id WHERE m.customer_id = :cust_id AND m.programme_id = :programme ORDER BY m.id LIMIT 1 FOR UPDATE OF m \gset
UPDATE loyalty_tiermembership SET customer_id = :cust_id, programme_id = :programme, tier_id = :m_tier, qualifying_amount = :m_amount + :total, since = since, is_manual = false WHERE id = :m_id;
-- 13. the receipt, with its stored answer
INSERT INTO loyalty_receipt (terminal_id, store_id, partner_id, receipt_id, status, customer_id, card_id, currency_id, sold_at, recorded_at, is_offline, total, discount, points_spent, to_pay, points_earned, spent_points, tier_amount, is_flagged, offline_shortfall, fingerprint, result) VALUES (:tid, :t_store, :t_partner, 'pgb-' || :rid, 'confirmed', :cust_id, :card_id, :currency, now(), now(), false, :total, 0.00, 0, :total, :earned, 0, :total, false, 0, md5(:rid::text) || md5(:i::text), '{"receipt_id": "pgbench", "status": "confirmed", "customer": {"id": "c_bn0000000000", "tier": "Base"}, "total": "1792.90", "discount": "0.00", "points_spent": "0.00", "to_pay": "1792.90", "points_earned": "35.86", "balance": {"before": "0.00", "after": "35.86", "pending": "0.00"}, "lines": [{"line": 1, "amount": "89.90", "discount": "0.00", "points_spent": "0.00", "to_pay": "89.90", "points_earned": "1.8"}, {"line": 2, "amount": "91.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "91.00", "points_earned": "1.82"}, {"line": 3, "amount": "240.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "240.00", "points_earned": "4.8"}, {"line": 4, "amount": "15.90", "discount": "0.00", "points_spent": "0.00", "to_pay": "15.90", "points_earned": "0.32"}, {"line": 5, "amount": "177.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "177.00", "points_earned": "3.54"}, {"line": 6, "amount": "129.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "129.00", "points_earned": "2.58"}, {"line": 7, "amount": "100.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "100.00", "points_earned": "2"}, {"line": 8, "amount": "249.90", "discount": "0.00", "points_spent": "0.00", "to_pay": "249.90", "points_earned": "5"}, {"line": 9, "amount": "69.80", "discount": "0.00", "points_spent": "0.00", "to_pay": "69.80", "points_earned": "1.39"}, {"line": 10, "amount": "99.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "99.00", "points_earned": "1.98"}, {"line": 11, "amount": "50.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "50.00", "points_earned": "1"}, {"line": 12, "amount": "199.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "199.00", "points_earned": "3.98"}, {"line": 13, "amount": "52.50", "discount": "0.00", "points_spent": "0.00", "to_pay": "52.50", "points_earned": "1.05"}, {"line": 14, "amount": "64.90", "discount": "0.00", "points_spent": "0.00", "to_pay": "64.90", "points_earned": "1.3"}, {"line": 15, "amount": "165.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "165.00", "points_earned": "3.3"}], "promotions": [{"id": 1, "name": "Base 2% bonus", "effect": "points", "amount": "35.86", "currency": "bench-points"}], "coupons": [], "messages": []}') RETURNING id AS r_id \gset
-- 14. its 15 lines
INSERT INTO loyalty_receiptline (receipt_id, line_no, sku, product_id, quantity, price, amount, discount, points_spent, to_pay, points_earned, spent_points, refunded_quantity) VALUES
  (:r_id, 1, 'PGB-' || :p1, :p1, 1, 89.90, 89.90, 0.00, 0.00, 89.90, 1.8, 0, 0),
  (:r_id, 2, 'PGB-' || :p2, :p2, 2, 45.50, 91.00, 0.00, 0.00, 91.00, 1.82, 0, 0),
  (:r_id, 3, 'PGB-' || :p3, :p3, 0.750, 320.00, 240.00, 0.00, 0.00, 240.00, 4.8, 0, 0),
  (:r_id, 4, 'PGB-' || :p4, :p4, 1, 15.90, 15.90, 0.00, 0.00, 15.90, 0.32, 0, 0),
  (:r_id, 5, 'PGB-' || :p5, :p5, 3, 59.00, 177.00, 0.00, 0.00, 177.00, 3.54, 0, 0),
  (:r_id, 6, 'PGB-' || :p6, :p6, 1, 129.00, 129.00, 0.00, 0.00, 129.00, 2.58, 0, 0),
  (:r_id, 7, 'PGB-' || :p7, :p7, 1.250, 80.00, 100.00, 0.00, 0.00, 100.00, 2, 0, 0),
  (:r_id, 8, 'PGB-' || :p8, :p8, 1, 249.90, 249.90, 0.00, 0.00, 249.90, 5, 0, 0),
  (:r_id, 9, 'PGB-' || :p9, :p9, 2, 34.90, 69.80, 0.00, 0.00, 69.80, 1.39, 0, 0),
  (:r_id, 10, 'PGB-' || :p10, :p10, 1, 99.00, 99.00, 0.00, 0.00, 99.00, 1.98, 0, 0),
  (:r_id, 11, 'PGB-' || :p11, :p11, 4, 12.50, 50.00, 0.00, 0.00, 50.00, 1, 0, 0),
  (:r_id, 12, 'PGB-' || :p12, :p12, 1, 199.00, 199.00, 0.00, 0.00, 199.00, 3.98, 0, 0),
  (:r_id, 13, 'PGB-' || :p13, :p13, 0.350, 150.00, 52.50, 0.00, 0.00, 52.50, 1.05, 0, 0),
  (:r_id, 14, 'PGB-' || :p14, :p14, 1, 64.90, 64.90, 0.00, 0.00, 64.90, 1.3, 0, 0),
  (:r_id, 15, 'PGB-' || :p15, :p15, 2, 82.50, 165.00, 0.00, 0.00, 165.00, 3.3, 0, 0);
-- 15-17. currency lookups and the ledger service's own account lock
SELECT * FROM loyalty_currency WHERE id = :currency LIMIT 21;
SELECT * FROM loyalty_currency WHERE id IN (:currency) ORDER BY programme_id, code;
SELECT id FROM loyalty_account WHERE id IN (:acc_id) ORDER BY id FOR NO KEY UPDATE OF loyalty_account;
-- 18. the earn posting
INSERT INTO loyalty_posting (kind, cause, cause_ref, receipt_id, actor_type, terminal_id, user_id, actor_name, partner_id, reverses_id, description, occurred_at, recorded_at) VALUES ('earn', 'receipt', 'promotion:' || :promotion, :r_id, 'terminal', :tid, NULL, '', :t_partner, NULL, '', now(), now()) RETURNING id AS posting_id \gset
-- 19. its two legs in one statement (the balance trigger checks them)
WITH e AS (INSERT INTO loyalty_ledgerentry (posting_id, account_id, currency_id, bucket, amount, balance_after, account_version, lot_id, active_at, expires_at, recorded_at) VALUES (:posting_id, :acc_id, :currency, 'active', :earned, :l_balance + :earned, :l_version + 1, NULL, now(), now() + interval '365 days', now()), (:posting_id, (SELECT id FROM loyalty_account WHERE kind = 'partner' AND partner_id = :t_partner AND currency_id = :currency AND purpose = 'main'), :currency, 'active', -:earned, NULL, NULL, NULL, NULL, NULL, now()) RETURNING id, account_id) SELECT id AS lot_id FROM e WHERE account_id = :acc_id \gset
-- 20. the account's cached balance and version
UPDATE loyalty_account SET balance = :l_balance + :earned, pending = :l_pending, version = :l_version + 1, updated_at = now() WHERE id = :acc_id;
-- 21. the lot the earn opened
INSERT INTO loyalty_lot (entry_id, account_id, kind, state, amount, remaining, active_at, expires_at, receipt_id) VALUES (:lot_id, :acc_id, 'earn', 'active', :earned, :earned, now(), now() + interval '365 days', :r_id);
-- 22. what the promotion gave each line
INSERT INTO loyalty_receiptlinereward (line_id, refund_id, promotion_id, effect, currency_id, amount, lot_id) SELECT id, NULL, :promotion, 'points', :currency, points_earned, :lot_id FROM loyalty_receiptline WHERE receipt_id = :r_id;
COMMIT;
