-- wal2edge: the replication checkpoint (slot, last applied commit LSN), written in the same batch as the data
CREATE TABLE IF NOT EXISTS "_wal2edge_state" (
  "slot" TEXT NOT NULL PRIMARY KEY,
  "commit_lsn" TEXT NOT NULL,
  "end_lsn" TEXT NOT NULL,
  "updated_at" TEXT NOT NULL,
  "position" TEXT NOT NULL DEFAULT ''
);
