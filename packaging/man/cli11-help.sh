#!/bin/sh
# help2man runs `cli11-help.sh PROGRAM --help`: PROGRAM's CLI11 help with every option's
# description on a line of its own. CLI11 puts it after the name from column 31, with a
# single space when the name is long, which help2man would read as part of the name. (A
# name too long for that column has its description on the next line already.)
program=$1
shift
"$program" "$@" 2>&1 | awk '
  function flush() {
    if (held == "") return
    if (!continued && length(held) > 30 && substr(held, 30, 1) == " " && substr(held, 31, 1) != " ") {
      name = substr(held, 1, 29); sub(/ +$/, "", name)
      print name
      print "                              " substr(held, 31)
    } else {
      print held
    }
    held = ""
  }
  {
    continued = ($0 ~ /^                              [^ ]/)
    flush()
    if ($0 ~ /^  -/) { held = $0; next }
    print
  }
  END { continued = 0; flush() }'
