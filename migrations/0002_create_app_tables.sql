-- wal2edge: tables of D1 database "app"
-- public.order_items
CREATE TABLE IF NOT EXISTS "order_items" (
  "order_id" TEXT NOT NULL,
  "line_no" INTEGER NOT NULL,
  "sku" TEXT NOT NULL,
  "quantity" INTEGER NOT NULL,
  PRIMARY KEY ("order_id", "line_no")
);

-- public.orders
CREATE TABLE IF NOT EXISTS "orders" (
  "id" TEXT NOT NULL,
  "user_id" INTEGER NOT NULL,
  "status" TEXT NOT NULL,
  "total" TEXT NOT NULL,
  "placed_on" TEXT NOT NULL,
  "notes" TEXT,
  PRIMARY KEY ("id")
);
CREATE INDEX IF NOT EXISTS "orders_user_id_idx" ON "orders" ("user_id");

-- public.products
CREATE TABLE IF NOT EXISTS "products" (
  "sku" TEXT NOT NULL,
  "title" TEXT NOT NULL,
  "price" TEXT NOT NULL,
  "tags" TEXT NOT NULL,
  "description" TEXT,
  "weight_kg" REAL,
  "updated_at" TEXT NOT NULL,
  PRIMARY KEY ("sku")
);

-- public.users
CREATE TABLE IF NOT EXISTS "users" (
  "id" INTEGER NOT NULL,
  "email" TEXT NOT NULL,
  "name" TEXT NOT NULL,
  "is_admin" INTEGER NOT NULL,
  "profile" TEXT NOT NULL,
  "created_at" TEXT NOT NULL,
  PRIMARY KEY ("id"),
  UNIQUE ("email")
);
