# tests/integration/queue_replay.jq - the queue events of table $t replayed in order over an empty
# table, as a consumer keeping a copy does: c/u/r write the row, d deletes it, t empties the table,
# and a schema event (op "s") is followed by attnum against the previous one (renamed and dropped
# columns; an added column takes its default when that is a constant) or, at a drop, empties it.
# $seed: the rows the consumer's copy started from (an array of row objects with an integer "id", as
# the table was when the slot was made). Prints one JSON object per row, every value as text.
# Use: jq -c -n --arg t TABLE --slurpfile seed ROWS_FILE -f queue_replay.jq SPOOL
# replay the events of table $t: rows by key, schema events followed as a consumer does
def lit: if . == null then null
         elif test("^'.*'::") then capture("^'(?<v>.*)'::").v | gsub("''"; "'")
         elif test("^-?[0-9.]+$") then .
         else "?" end;
def follow($cols):
  . as $st
  | ($st.shape // null) as $old
  | ($cols | map({key: (.attnum | tostring), value: .}) | from_entries) as $new
  | .rows |= with_entries(.value |= (
        . as $row
        | reduce ($cols[]) as $c ({};
            ($c.attnum | tostring) as $a
            | if $old != null and ($old[$a] != null) then
                  (if ($row | has($old[$a])) then .[$c.name] = $row[$old[$a]] else . end)
              elif $old == null and ($row | has($c.name)) then .[$c.name] = $row[$c.name]
              else .[$c.name] = ($c.default | lit) end)))
  | .shape = ($new | map_values(.name));
reduce (inputs | select(.source.table == $t or (.op == "s" and .ddl.table == $t))) as $e ({rows: ($seed | map({key: ({id: (.id | tonumber)} | tojson), value: .}) | from_entries), shape: null};
    if $e.op == "d" then .rows |= del(.[$e.key | tojson])
    elif $e.op == "c" or $e.op == "u" or $e.op == "r" then .rows[$e.key | tojson] = $e.after
    elif $e.op == "t" then .rows = {}
    elif $e.op == "s" and $e.ddl.event == "sql_drop" then .rows = {} | .shape = null
    elif $e.op == "s" and ($e.ddl.columns | type) == "array" then follow($e.ddl.columns)
    else . end)
| .rows[] | with_entries(.value |= (if . == null then null else tostring end))
