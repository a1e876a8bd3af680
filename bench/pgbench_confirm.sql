-- The bare SQL of one POS `confirm` (earn only, 15 lines), as the service sends it on
-- PostgreSQL (loyalty/services/purchase_sql.py): the same statements, tables, WHERE clauses,
-- row locks and round trips (\; joins the statements of one round trip, as psycopg sends them
-- in one simple query), without Django, DRF or HTTP. Round trips: 1. before any lock: replay
-- check, card and holder, accounts, tiers, products; 2. BEGIN; 3. timeouts, account lock,
-- replay check, open lots, tier membership lock; 4. ids from the sequences; 5. every row:
-- receipt, 15 lines, posting, 2 entries, lot, account, 15 line rewards, tier; 6. COMMIT.
-- The terminal's key is not looked up: the service remembers verified keys (loyalty/api/auth.py).
-- What differs: the card number is computed here (EAN-13 check digit below), products are
-- found by id instead of SKU, the terminal's store and partner (in memory in the service) are
-- one more statement of round trip 1, the statements run in another order inside round trip 1 (so that
-- \aset keeps the values the later statements need, under other column names), and the
-- partner's settlement account (cached per process by the service) is a sub-select. Every row
-- it writes keeps the ledger consistent (balanced legs, balance_after/version, lot), so
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

-- 1. before any lock
SELECT fingerprint, result FROM loyalty_receipt WHERE terminal_id = :tid AND receipt_id = 'pgb-' || :rid \;
SELECT programme_id, tier_id FROM loyalty_tiermembership WHERE customer_id = (SELECT customer_id FROM loyalty_card WHERE number = '2900' || lpad(:i::text, 8, '0') || :chk::text) \;
SELECT sku, id, partner_id, category_id, brand_id FROM loyalty_product WHERE id IN (:p1, :p2, :p3, :p4, :p5, :p6, :p7, :p8, :p9, :p10, :p11, :p12, :p13, :p14, :p15) AND (partner_id IS NULL OR partner_id = (SELECT s.partner_id FROM loyalty_terminal t JOIN loyalty_store s ON s.id = t.store_id WHERE t.id = :tid)) \;
SELECT c.id AS card_id, c.number, c.card_type, c.status, c.programme_id AS card_programme, c.customer_id, cu.id AS cust_id, cu.public_id, cu.registered_at FROM loyalty_card c LEFT JOIN crm_customer cu ON cu.id = c.customer_id WHERE c.number = '2900' || lpad(:i::text, 8, '0') || :chk::text \;
SELECT s.partner_id AS t_partner, t.store_id AS t_store FROM loyalty_terminal t JOIN loyalty_store s ON s.id = t.store_id WHERE t.id = :tid \;
SELECT id AS acc_id, kind, purpose, currency_id, customer_id, partner_id, balance, pending, held, debt_limit, version, created_at, updated_at FROM loyalty_account WHERE kind = 'customer' AND customer_id = (SELECT customer_id FROM loyalty_card WHERE number = '2900' || lpad(:i::text, 8, '0') || :chk::text) ORDER BY id \aset
BEGIN;
-- 3. under the locks
SELECT set_config('lock_timeout', '2000', true), set_config('statement_timeout', '5000', true) \;
SELECT entry_id, account_id, kind, state, amount, remaining, active_at, expires_at, receipt_id FROM loyalty_lot WHERE account_id IN (:acc_id) AND remaining <> 0 \;
SELECT fingerprint, result FROM loyalty_receipt WHERE terminal_id = :tid AND receipt_id = 'pgb-' || :rid \;
SELECT id, kind, purpose, currency_id, customer_id, partner_id, balance AS l_balance, pending AS l_pending, held, debt_limit, version AS l_version, created_at, updated_at FROM loyalty_account WHERE id IN (:acc_id) ORDER BY id FOR NO KEY UPDATE \;
SELECT id AS m_id, customer_id, programme_id, tier_id AS m_tier, qualifying_amount AS m_amount, since, is_manual FROM loyalty_tiermembership WHERE customer_id = :cust_id AND programme_id = :programme FOR UPDATE \aset
-- 4. ids
SELECT nextval('loyalty_receipt_id_seq') AS r_id, a[1] AS l1, a[2] AS l2, a[3] AS l3, a[4] AS l4, a[5] AS l5, a[6] AS l6, a[7] AS l7, a[8] AS l8, a[9] AS l9, a[10] AS l10, a[11] AS l11, a[12] AS l12, a[13] AS l13, a[14] AS l14, a[15] AS l15, p[1] AS p_id, e[1] AS e1, e[2] AS e2 FROM (SELECT ARRAY(SELECT nextval('loyalty_receiptline_id_seq') FROM generate_series(1, 15)) AS a, ARRAY(SELECT nextval('loyalty_posting_id_seq') FROM generate_series(1, 1)) AS p, ARRAY(SELECT nextval('loyalty_ledgerentry_id_seq') FROM generate_series(1, 2)) AS e) ids \gset
-- 5. every row
INSERT INTO loyalty_receipt (id, terminal_id, store_id, partner_id, receipt_id, status, customer_id, card_id, currency_id, sold_at, recorded_at, is_offline, total, discount, points_spent, to_pay, points_earned, spent_points, tier_amount, is_flagged, offline_shortfall, fingerprint, result) VALUES (:r_id, :tid, :t_store, :t_partner, 'pgb-' || :rid, 'confirmed', :cust_id, :card_id, :currency, now(), now(), false, :total, 0.00, 0, :total, :earned, 0, :total, false, 0, md5(:rid::text) || md5(:i::text), '{"receipt_id": "pgbench", "status": "confirmed", "customer": {"id": "c_bn0000000000", "tier": "Base"}, "total": "1792.90", "discount": "0.00", "points_spent": "0.00", "to_pay": "1792.90", "points_earned": "35.86", "balance": {"before": "0.00", "after": "35.86", "pending": "0.00"}, "lines": [{"line": 1, "amount": "89.90", "discount": "0.00", "points_spent": "0.00", "to_pay": "89.90", "points_earned": "1.8"}, {"line": 2, "amount": "91.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "91.00", "points_earned": "1.82"}, {"line": 3, "amount": "240.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "240.00", "points_earned": "4.8"}, {"line": 4, "amount": "15.90", "discount": "0.00", "points_spent": "0.00", "to_pay": "15.90", "points_earned": "0.32"}, {"line": 5, "amount": "177.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "177.00", "points_earned": "3.54"}, {"line": 6, "amount": "129.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "129.00", "points_earned": "2.58"}, {"line": 7, "amount": "100.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "100.00", "points_earned": "2"}, {"line": 8, "amount": "249.90", "discount": "0.00", "points_spent": "0.00", "to_pay": "249.90", "points_earned": "5"}, {"line": 9, "amount": "69.80", "discount": "0.00", "points_spent": "0.00", "to_pay": "69.80", "points_earned": "1.39"}, {"line": 10, "amount": "99.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "99.00", "points_earned": "1.98"}, {"line": 11, "amount": "50.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "50.00", "points_earned": "1"}, {"line": 12, "amount": "199.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "199.00", "points_earned": "3.98"}, {"line": 13, "amount": "52.50", "discount": "0.00", "points_spent": "0.00", "to_pay": "52.50", "points_earned": "1.05"}, {"line": 14, "amount": "64.90", "discount": "0.00", "points_spent": "0.00", "to_pay": "64.90", "points_earned": "1.3"}, {"line": 15, "amount": "165.00", "discount": "0.00", "points_spent": "0.00", "to_pay": "165.00", "points_earned": "3.3"}], "promotions": [{"id": 1, "name": "Base 2% bonus", "effect": "points", "amount": "35.86", "currency": "bench-points"}], "coupons": [], "messages": []}'::jsonb) \;
INSERT INTO loyalty_receiptline (id, receipt_id, line_no, sku, product_id, quantity, price, amount, discount, points_spent, to_pay, points_earned, spent_points, refunded_quantity) VALUES
  (:l1, :r_id, 1, 'PGB-' || :p1, :p1, 1, 89.90, 89.90, 0.00, 0.00, 89.90, 1.8, 0, 0),
  (:l2, :r_id, 2, 'PGB-' || :p2, :p2, 2, 45.50, 91.00, 0.00, 0.00, 91.00, 1.82, 0, 0),
  (:l3, :r_id, 3, 'PGB-' || :p3, :p3, 0.750, 320.00, 240.00, 0.00, 0.00, 240.00, 4.8, 0, 0),
  (:l4, :r_id, 4, 'PGB-' || :p4, :p4, 1, 15.90, 15.90, 0.00, 0.00, 15.90, 0.32, 0, 0),
  (:l5, :r_id, 5, 'PGB-' || :p5, :p5, 3, 59.00, 177.00, 0.00, 0.00, 177.00, 3.54, 0, 0),
  (:l6, :r_id, 6, 'PGB-' || :p6, :p6, 1, 129.00, 129.00, 0.00, 0.00, 129.00, 2.58, 0, 0),
  (:l7, :r_id, 7, 'PGB-' || :p7, :p7, 1.250, 80.00, 100.00, 0.00, 0.00, 100.00, 2, 0, 0),
  (:l8, :r_id, 8, 'PGB-' || :p8, :p8, 1, 249.90, 249.90, 0.00, 0.00, 249.90, 5, 0, 0),
  (:l9, :r_id, 9, 'PGB-' || :p9, :p9, 2, 34.90, 69.80, 0.00, 0.00, 69.80, 1.39, 0, 0),
  (:l10, :r_id, 10, 'PGB-' || :p10, :p10, 1, 99.00, 99.00, 0.00, 0.00, 99.00, 1.98, 0, 0),
  (:l11, :r_id, 11, 'PGB-' || :p11, :p11, 4, 12.50, 50.00, 0.00, 0.00, 50.00, 1, 0, 0),
  (:l12, :r_id, 12, 'PGB-' || :p12, :p12, 1, 199.00, 199.00, 0.00, 0.00, 199.00, 3.98, 0, 0),
  (:l13, :r_id, 13, 'PGB-' || :p13, :p13, 0.350, 150.00, 52.50, 0.00, 0.00, 52.50, 1.05, 0, 0),
  (:l14, :r_id, 14, 'PGB-' || :p14, :p14, 1, 64.90, 64.90, 0.00, 0.00, 64.90, 1.3, 0, 0),
  (:l15, :r_id, 15, 'PGB-' || :p15, :p15, 2, 82.50, 165.00, 0.00, 0.00, 165.00, 3.3, 0, 0) \;
INSERT INTO loyalty_posting (id, kind, cause, cause_ref, receipt_id, actor_type, terminal_id, user_id, actor_name, partner_id, reverses_id, description, occurred_at, recorded_at) VALUES (:p_id, 'earn', 'receipt', 'promotion:' || :promotion, :r_id, 'terminal', :tid, NULL, '', :t_partner, NULL, '', now(), now()) \;
INSERT INTO loyalty_ledgerentry (id, posting_id, account_id, currency_id, bucket, amount, balance_after, account_version, lot_id, active_at, expires_at, recorded_at) VALUES (:e1, :p_id, :acc_id, :currency, 'active', :earned, :l_balance + :earned, :l_version + 1, NULL, now(), now() + interval '365 days', now()), (:e2, :p_id, (SELECT id FROM loyalty_account WHERE kind = 'partner' AND partner_id = :t_partner AND currency_id = :currency AND purpose = 'main'), :currency, 'active', -:earned, NULL, NULL, NULL, NULL, NULL, now()) \;
INSERT INTO loyalty_lot (entry_id, account_id, kind, state, amount, remaining, active_at, expires_at, receipt_id) VALUES (:e1, :acc_id, 'earn', 'active', :earned, :earned, now(), now() + interval '365 days', :r_id) \;
UPDATE loyalty_account SET balance = :l_balance + :earned, pending = :l_pending, version = :l_version + 1, updated_at = now() WHERE id = :acc_id \;
INSERT INTO loyalty_receiptlinereward (line_id, refund_id, promotion_id, effect, currency_id, amount, lot_id) VALUES
  (:l1, NULL, :promotion, 'points', :currency, 1.8, :e1),
  (:l2, NULL, :promotion, 'points', :currency, 1.82, :e1),
  (:l3, NULL, :promotion, 'points', :currency, 4.8, :e1),
  (:l4, NULL, :promotion, 'points', :currency, 0.32, :e1),
  (:l5, NULL, :promotion, 'points', :currency, 3.54, :e1),
  (:l6, NULL, :promotion, 'points', :currency, 2.58, :e1),
  (:l7, NULL, :promotion, 'points', :currency, 2, :e1),
  (:l8, NULL, :promotion, 'points', :currency, 5, :e1),
  (:l9, NULL, :promotion, 'points', :currency, 1.39, :e1),
  (:l10, NULL, :promotion, 'points', :currency, 1.98, :e1),
  (:l11, NULL, :promotion, 'points', :currency, 1, :e1),
  (:l12, NULL, :promotion, 'points', :currency, 3.98, :e1),
  (:l13, NULL, :promotion, 'points', :currency, 1.05, :e1),
  (:l14, NULL, :promotion, 'points', :currency, 1.3, :e1),
  (:l15, NULL, :promotion, 'points', :currency, 3.3, :e1) \;
UPDATE loyalty_tiermembership SET qualifying_amount = :m_amount + :total, tier_id = :m_tier, since = now() WHERE id = :m_id;
COMMIT;
