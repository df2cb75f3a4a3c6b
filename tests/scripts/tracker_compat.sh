#!/usr/bin/env bash
# What Tracker Locks users' scripts do (shared/OTHER-SYSTEMS.md), unchanged, with curl and
# jq against tcpnetlock_server's HTTP API: take a lock and keep its id, see "null" when
# someone else holds it, read it, list it with paging, release it from a `trap ... EXIT`.
#
# Loopback only; the server is on ephemeral ports and killed on exit.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
for tool in curl jq; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIPPED: $tool is not installed"
    exit 77  # ctest reports it as skipped, not passed
  fi
done

source "$(dirname "${BASH_SOURCE[0]}")/lib/http_server.bash"
# expect WHAT ACTUAL EXPECTED
expect() {
  if [[ $2 != "$3" ]]; then fail "$1: expected '$3', got '$2'"; fi
  echo "   ok: $1 = $2"
}
uuid_re='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'

start_http_server
export URL
echo "server at $URL"

# --- exactly what Tracker users write ----------------------------------------------------

step "pipeline 123 takes the lock"
LOCK_ID=$(curl -s -X POST "$URL/api/v1alpha1/lock" -H 'Content-Type: application/json' -d '{"service":"production-deployment","who":"ci-pipeline-123"}' | jq -r '.id')
echo "   LOCK_ID=$LOCK_ID"
[[ $LOCK_ID =~ $uuid_re ]] || fail "LOCK_ID is not a UUID: '$LOCK_ID'"

step "pipeline 124 asks for the same service: someone else holds it"
OTHER=$(curl -s -X POST "$URL/api/v1alpha1/lock" -H 'Content-Type: application/json' -d '{"service":"production-deployment","who":"ci-pipeline-124"}')
echo "   answer: $OTHER"
OTHER_ID=$(echo "$OTHER" | jq -r '.id')
expect "second pipeline's .id" "$OTHER_ID" "null"
expect ".error" "$(echo "$OTHER" | jq -r .error)" "lock already exists"
expect ".existingLock.who" "$(echo "$OTHER" | jq -r .existingLock.who)" "ci-pipeline-123"
expect ".existingLock.id" "$(echo "$OTHER" | jq -r .existingLock.id)" "$LOCK_ID"
expect "HTTP status of the conflict" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/api/v1alpha1/lock" -H 'Content-Type: application/json' -d '{"service":"production-deployment","who":"ci-pipeline-124"}')" "409"

step "read the lock back"
expect "service" "$(curl -s "$URL/api/v1alpha1/lock/$LOCK_ID" | jq -r .service)" "production-deployment"
expect "who" "$(curl -s "$URL/api/v1alpha1/lock/$LOCK_ID" | jq -r .who)" "ci-pipeline-123"
CREATED=$(curl -s "$URL/api/v1alpha1/lock/$LOCK_ID" | jq -r .createdAt)
[[ $CREATED =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$ ]] || fail "createdAt is not RFC 3339: '$CREATED'"
echo "   ok: createdAt = $CREATED"

step "list with paging"
LIST=$(curl -s "$URL/api/v1alpha1/locks/list?per_page=10&page=1")
echo "   answer: $LIST"
expect ".total" "$(echo "$LIST" | jq -r .total)" "1"
expect ".perPage" "$(echo "$LIST" | jq -r .perPage)" "10"
expect ".page" "$(echo "$LIST" | jq -r .page)" "1"
expect ".locks[0].id" "$(echo "$LIST" | jq -r '.locks[0].id')" "$LOCK_ID"
expect "services on page 1" "$(echo "$LIST" | jq -r '[.locks[].service] | join(",")')" "production-deployment"

step "pipeline 123 deploys, fails, and its trap releases the lock"
set +e
(
  trap 'curl -s "$URL/api/v1alpha1/unlock/$LOCK_ID"' EXIT
  echo "deploying with lock $LOCK_ID"
  exit 3  # the deploy step failed
) >"$work/pipeline-123.out"
status=$?
set -e
awk '{print "   | " $0}' "$work/pipeline-123.out"
expect "pipeline 123's exit status" "$status" "3"
RELEASED=$(tail -n 1 "$work/pipeline-123.out")
expect "the trap's unlock answer" "$(echo "$RELEASED" | jq -c .)" '{"success":true,"message":"Lock released successfully"}'
expect "the released lock" "$(curl -s "$URL/api/v1alpha1/lock/$LOCK_ID" | jq -r .error)" "lock not found"
expect "HTTP status of the released lock" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1alpha1/lock/$LOCK_ID")" "404"

step "pipeline 124 retries and now succeeds"
LOCK_ID_124=$(curl -s -X POST "$URL/api/v1alpha1/lock" -H 'Content-Type: application/json' -d '{"service":"production-deployment","who":"ci-pipeline-124"}' | jq -r '.id')
echo "   LOCK_ID=$LOCK_ID_124"
[[ $LOCK_ID_124 =~ $uuid_re ]] || fail "pipeline 124 did not get the lock: '$LOCK_ID_124'"
[[ $LOCK_ID_124 != "$LOCK_ID" ]] || fail "the new lock has the old id"
expect "holder" "$(curl -s "$URL/api/v1alpha1/locks/list?per_page=10&page=1" | jq -r '.locks[0].who')" "ci-pipeline-124"

# --- a whole user script, as a file ------------------------------------------------------

cat >"$work/deploy.sh" <<'SCRIPT'
#!/usr/bin/env bash
set -e
LOCK_ID=$(curl -s -X POST "$URL/api/v1alpha1/lock" -H 'Content-Type: application/json' \
  -d "{\"service\":\"production-deployment\",\"who\":\"$WHO\"}" | jq -r '.id')
if [ "$LOCK_ID" == "null" ]; then
  echo "production-deployment is locked by someone else"
  exit 1
fi
trap 'curl -s "$URL/api/v1alpha1/unlock/$LOCK_ID"; echo' EXIT
echo "deploying as $WHO with lock $LOCK_ID"
SCRIPT

step "deploy.sh while pipeline 124 holds the lock: refused"
set +e
WHO=ci-pipeline-125 bash "$work/deploy.sh" >"$work/deploy-1.out" 2>&1
status=$?
set -e
awk '{print "   | " $0}' "$work/deploy-1.out"
expect "deploy.sh exit status" "$status" "1"
grep -q "locked by someone else" "$work/deploy-1.out" || fail "deploy.sh did not see the lock"

step "pipeline 124 releases with DELETE; deploy.sh then runs and releases on exit"
expect "DELETE answer" "$(curl -s -X DELETE "$URL/api/v1alpha1/lock/$LOCK_ID_124" | jq -r .success)" "true"
WHO=ci-pipeline-125 bash "$work/deploy.sh" >"$work/deploy-2.out" 2>&1 || { awk '{print "   | " $0}' "$work/deploy-2.out"; fail "deploy.sh failed"; }
awk '{print "   | " $0}' "$work/deploy-2.out"
grep -q '"success":true' "$work/deploy-2.out" || fail "deploy.sh's trap did not release the lock"
expect "locks left" "$(curl -s "$URL/api/v1alpha1/locks/list?per_page=10&page=1" | jq -r .total)" "0"

kill -0 "$server_pid" 2>/dev/null || fail "the server died"
echo "PASS: Tracker users' scripts work unchanged"
