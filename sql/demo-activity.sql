-- sql/demo-activity.sql - some activity on the demo shop (sql/demo.sql) for `wal2edge run`
-- to carry to the edge. The first transaction rewrites every existing row unchanged so
-- that the rows loaded before the replication slot existed reach the targets too (the
-- consistent initial copy of a large database is `wal2edge migrate`'s job).
BEGIN;
UPDATE public.users SET name = name;
UPDATE public.products SET title = title;
UPDATE public.orders SET notes = notes;
UPDATE public.order_items SET quantity = quantity;
COMMIT;

-- a new customer places an order
BEGIN;
INSERT INTO public.users (email, name, password_hash, profile)
    VALUES ('linus@example.com', 'Linus Torvalds', 'x-not-a-real-hash-5', '{"lang": "fi"}');
INSERT INTO public.orders (id, user_id, status, total, placed_on)
    SELECT '8a5a4f5e-2d1c-4f0e-9a57-0c3e1b7d2a04', id, 'paid', 129.00, '2026-11-28' FROM public.users
    WHERE email = 'linus@example.com';
INSERT INTO public.order_items VALUES ('8a5a4f5e-2d1c-4f0e-9a57-0c3e1b7d2a04', 1, 'KB-001', 1);
COMMIT;

-- a price change, a shipped order, a cancelled order's items removed
UPDATE public.products SET price = 139.00, tags = '{hardware,input,bestseller}' WHERE sku = 'KB-001';
UPDATE public.orders SET status = 'shipped' WHERE id = '8a5a4f5e-2d1c-4f0e-9a57-0c3e1b7d2a01';
BEGIN;
UPDATE public.orders SET status = 'cancelled' WHERE id = '8a5a4f5e-2d1c-4f0e-9a57-0c3e1b7d2a03';
DELETE FROM public.order_items WHERE order_id = '8a5a4f5e-2d1c-4f0e-9a57-0c3e1b7d2a03';
COMMIT;
