# include(EmbedSql): wal2edge_embed_sql(NAME FILE OUT) writes OUT, a header defining
# `static const char NAME[]` with FILE's text, at configure time; FILE is a configure
# dependency, so editing it regenerates the header. The SQL stays a plain file in sql/
# that a user can also run with psql.
function(wal2edge_embed_sql name file out)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${file}")
  file(READ "${file}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n    " bytes "${bytes}")
  set(text "/* generated from ${file} by cmake/EmbedSql.cmake */\nstatic const char ${name}[] = {\n    ${bytes}0x00};\n")
  if(EXISTS "${out}")
    file(READ "${out}" old)
  endif()
  if(NOT old STREQUAL text)
    file(WRITE "${out}" "${text}")
  endif()
endfunction()
