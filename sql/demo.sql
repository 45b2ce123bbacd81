-- sql/demo.sql - a small shop schema with data, for the README's demo and for tests.
SET client_min_messages = warning;
-- Safe to load again: it drops and recreates the demo schema's objects.
BEGIN;

DROP PUBLICATION IF EXISTS wal2edge;
DROP TABLE IF EXISTS public.order_items, public.orders, public.products, public.users CASCADE;
DROP TYPE IF EXISTS public.order_status;

CREATE TYPE public.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');

CREATE TABLE public.users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    name          text NOT NULL,
    password_hash text NOT NULL,
    is_admin      boolean NOT NULL DEFAULT false,
    profile       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.products (
    sku         text PRIMARY KEY,
    title       text NOT NULL,
    price       numeric(12, 2) NOT NULL CHECK (price >= 0),
    tags        text[] NOT NULL DEFAULT '{}',
    description text,
    weight_kg   double precision,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.orders (
    id         uuid PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES public.users (id),
    status     public.order_status NOT NULL DEFAULT 'pending',
    total      numeric(12, 2) NOT NULL,
    placed_on  date NOT NULL,
    notes      text
);
CREATE INDEX orders_user_id_idx ON public.orders (user_id);

CREATE TABLE public.order_items (
    order_id uuid NOT NULL REFERENCES public.orders (id) ON DELETE CASCADE,
    line_no  smallint NOT NULL,
    sku      text NOT NULL REFERENCES public.products (sku),
    quantity integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, line_no)
);

INSERT INTO public.users (email, name, password_hash, is_admin, profile) VALUES
    ('ada@example.com',    'Ada Lovelace',   'x-not-a-real-hash-1', true,  '{"lang": "en", "theme": "dark"}'),
    ('grace@example.com',  'Grace Hopper',   'x-not-a-real-hash-2', false, '{"lang": "en"}'),
    ('edsger@example.com', 'Edsger Dijkstra','x-not-a-real-hash-3', false, '{"lang": "nl"}'),
    ('barbara@example.com','Barbara Liskov', 'x-not-a-real-hash-4', false, '{}');

INSERT INTO public.products (sku, title, price, tags, description, weight_kg) VALUES
    ('KB-001', 'Mechanical keyboard', 129.00, '{hardware,input}', 'Tactile switches, 87 keys', 0.95),
    ('MS-002', 'Trackball mouse',      59.90, '{hardware,input}', NULL,                         0.18),
    ('BK-003', 'The Art of Computer Programming', 249.99, '{books}', 'Volumes 1-4A, boxed', 5.2),
    ('CB-004', 'USB-C cable 2 m',       9.50, '{}',               'Braided',                   0.05);

INSERT INTO public.orders (id, user_id, status, total, placed_on, notes) VALUES
    ('8a5a4f5e-2d1c-4f0e-9a57-0c3e1b7d2a01', 1, 'paid',    188.90, '2026-11-02', 'gift wrap'),
    ('8a5a4f5e-2d1c-4f0e-9a57-0c3e1b7d2a02', 2, 'shipped', 249.99, '2026-11-05', NULL),
    ('8a5a4f5e-2d1c-4f0e-9a57-0c3e1b7d2a03', 3, 'pending',   9.50, '2026-11-20', NULL);

INSERT INTO public.order_items (order_id, line_no, sku, quantity) VALUES
    ('8a5a4f5e-2d1c-4f0e-9a57-0c3e1b7d2a01', 1, 'KB-001', 1),
    ('8a5a4f5e-2d1c-4f0e-9a57-0c3e1b7d2a01', 2, 'MS-002', 1),
    ('8a5a4f5e-2d1c-4f0e-9a57-0c3e1b7d2a02', 1, 'BK-003', 1),
    ('8a5a4f5e-2d1c-4f0e-9a57-0c3e1b7d2a03', 1, 'CB-004', 1);

CREATE PUBLICATION wal2edge FOR TABLE public.users, public.products, public.orders, public.order_items;

COMMIT;
