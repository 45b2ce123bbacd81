// Split a SQL text into statements the way SQLite would run them one after
// another: ';' ends a statement unless it is inside a string, quoted
// identifier, comment, or the BEGIN ... END body of a CREATE TRIGGER.
// Also counts the bound-parameter slots each statement uses.

export function splitSql(sql) {
  const out = [];
  let start = 0;
  let i = 0;
  const n = sql.length;
  let depth = 0; // BEGIN/CASE nesting inside CREATE TRIGGER
  let words = []; // first words of the current statement
  let isTrigger = false;
  let maxIdx = 0;
  let hasContent = false;
  const push = (end) => {
    const text = sql.slice(start, end).trim();
    if (hasContent && text) out.push({ sql: text, nparams: maxIdx });
    start = end + 1;
    depth = 0;
    words = [];
    isTrigger = false;
    maxIdx = 0;
    hasContent = false;
  };
  while (i < n) {
    const c = sql[i];
    if (c === "-" && sql[i + 1] === "-") {
      const e = sql.indexOf("\n", i);
      i = e < 0 ? n : e + 1;
      continue;
    }
    if (c === "/" && sql[i + 1] === "*") {
      const e = sql.indexOf("*/", i + 2);
      i = e < 0 ? n : e + 2;
      continue;
    }
    if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      let j = i + 1;
      for (;;) {
        if (j >= n) break;
        if (sql[j] === close) {
          if (close !== "]" && sql[j + 1] === close) { j += 2; continue; }
          break;
        }
        j++;
      }
      hasContent = true;
      i = j + 1;
      continue;
    }
    if (c === ";") {
      if (depth === 0) { push(i); i++; continue; }
      i++;
      continue;
    }
    if (c === "?") {
      hasContent = true;
      let j = i + 1;
      while (j < n && sql[j] >= "0" && sql[j] <= "9") j++;
      if (j > i + 1) maxIdx = Math.max(maxIdx, parseInt(sql.slice(i + 1, j), 10));
      else maxIdx += 1;
      i = j;
      continue;
    }
    if ((c === ":" || c === "@" || c === "$") && /[A-Za-z_]/.test(sql[i + 1] || "")) {
      hasContent = true;
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(sql[j])) j++;
      maxIdx += 1; // named parameters take the next free index
      i = j;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j])) j++;
      const w = sql.slice(i, j).toUpperCase();
      hasContent = true;
      if (words.length < 4) {
        words.push(w);
        if (words[0] === "CREATE" && (w === "TRIGGER")) isTrigger = true;
      }
      if (isTrigger) {
        if (w === "BEGIN" || w === "CASE") depth++;
        else if (w === "END" && depth > 0) depth--;
      }
      i = j;
      continue;
    }
    if (!/\s/.test(c)) hasContent = true;
    i++;
  }
  push(n);
  return out;
}

export function leadingKeyword(sql) {
  const m = /^\s*(?:(?:--[^\n]*\n|\/\*[\s\S]*?\*\/)\s*)*([A-Za-z]+)/.exec(sql);
  return m ? m[1].toUpperCase() : "";
}
