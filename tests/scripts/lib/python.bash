# Sourced by the shell tests that run a Python checker (not a test itself: only
# tests/scripts/*.sh are).

# python_with MODULE: prints the first python3 that can import MODULE: Debian's
# /usr/bin/python3 (its python3-* packages; starts fast), else the one on PATH. Prints
# nothing when neither can.
python_with() {
  local candidate
  for candidate in /usr/bin/python3 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import $1" 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
}
