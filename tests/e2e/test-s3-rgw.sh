#!/bin/bash
# The S3 client (bootstrap/s3.c through tests/tools/s3tool) against a real Ceph radosgw:
# signing, path/query encoding, pagination, conditional PUT, errors and clock-skew recovery.
# Needs $BUILD/tools/s3tool (BUILD defaults to build); 77 = skipped.
# shellcheck disable=SC2317 # the t_* functions run through check()
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
T=$PWD/$BUILD/tools/s3tool
PORT=${S3_E2E_PORT:-7483}
[ -x "$T" ] || { echo "SKIPPED: $T not built"; exit 77; }
command -v radosgw >/dev/null || { echo "SKIPPED: radosgw not installed"; exit 77; }

dir=$(mktemp -d /tmp/clique-s3e2e.XXXXXX)
work=$dir.work
mkdir -p "$work"
fake_pid=
cleanup() {
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
	bash tests/e2e/rgw.sh down "$dir" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
if ! bash tests/e2e/rgw.sh up "$dir" "$PORT" >"$work/rgw.log" 2>&1; then
	cat "$work/rgw.log"
	echo "FAIL rgw_up"
	exit 1
fi
set -a
# shellcheck disable=SC1091
. "$dir/env"
set +a
export S3_BUCKET=e2e S3_REGION=us-east-1
# libfaketime is LD_PRELOADed ahead of the ASan runtime in sanitized builds.
export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0

failed=0
check() { # name cmd...
	local name=$1
	shift
	if "$@"; then
		echo "ok $name"
	else
		echo "FAIL $name"
		failed=1
	fi
}

t_mb() {
	"$T" mb 2>"$work/err" || { cat "$work/err"; return 1; }
}

t_roundtrip() {
	head -c 3000 /dev/urandom >"$work/blob"
	local etag md5
	etag=$("$T" put rt/blob "$work/blob" 2>"$work/err") || { cat "$work/err"; return 1; }
	md5=$(md5sum <"$work/blob" | cut -d' ' -f1)
	# RGW's ETag of a single-part PUT is the MD5 of the body; we store it unquoted.
	[ "$etag" = "$md5" ] || { echo "etag '$etag' != md5 '$md5'"; return 1; }
	"$T" get rt/blob >"$work/got" 2>"$work/err" || { cat "$work/err"; return 1; }
	cmp -s "$work/blob" "$work/got" || { echo "body differs"; return 1; }
	grep -qx "etag $md5" "$work/err" || { echo "get etag wrong"; cat "$work/err"; return 1; }
	"$T" list rt/ 2>/dev/null | grep -q "^rt/blob	$md5	3000	" || { echo "list entry wrong"; return 1; }
}

t_empty_object() {
	: >"$work/empty"
	"$T" put rt/empty "$work/empty" >/dev/null 2>"$work/err" || { cat "$work/err"; return 1; }
	[ "$("$T" get rt/empty 2>/dev/null | wc -c)" = 0 ]
}

t_pagination() {
	"$T" fill pag/ 2500 2>"$work/err" || { cat "$work/err"; return 1; }
	"$T" list pag/ >"$work/list" 2>"$work/err" || { cat "$work/err"; return 1; }
	[ "$(wc -l <"$work/list")" = 2500 ] || { echo "listed $(wc -l <"$work/list")"; return 1; }
	[ "$(cut -f1 "$work/list" | sort -u | wc -l)" = 2500 ] || { echo "duplicates"; return 1; }
	# RGW pages at 1000 keys: three pages.
	grep -q "stats list=3 " "$work/err" || { cat "$work/err"; return 1; }
	[ "$(tail -1 "$work/list" | cut -f1)" = pag/002499 ]
}

t_get_many() {
	"$T" dump pag/ >"$work/dump" 2>"$work/err" || { tail -3 "$work/err"; return 1; }
	[ "$(grep -c '^==> pag/' "$work/dump")" = 2500 ] || return 1
	! grep -q '^error:' "$work/dump" || return 1
	grep -qx 'pag/001234' "$work/dump"
}

t_key_encoding() {
	local k i=0
	local keys=("enc/with space" "enc/plus+sign" "enc/eq=ual" "enc/amp&ersand" "enc/uni-é-中文-🙂"
		"enc/tilde~._-" "enc/q?uery#hash%25" "enc/dot/./seg" "enc/dd/../x" "enc/slash//double"
		"enc/quote\"'<>" "enc/colon:semi;comma,")
	for k in "${keys[@]}"; do
		printf '%s' "$k" >"$work/k$i"
		"$T" put "$k" "$work/k$i" >/dev/null 2>"$work/err" || { echo "put '$k'"; cat "$work/err"; return 1; }
		[ "$("$T" get "$k" 2>/dev/null)" = "$k" ] || { echo "get '$k'"; return 1; }
		i=$((i + 1))
	done
	"$T" list enc/ 2>/dev/null | cut -f1 >"$work/keys" || return 1
	printf '%s\n' "${keys[@]}" | LC_ALL=C sort >"$work/want"
	diff "$work/want" "$work/keys"
}

t_conditional_put() {
	echo first >"$work/c1"
	echo second >"$work/c2"
	"$T" put cond/x "$work/c1" --if-none-match >/dev/null 2>&1 || return 1
	"$T" put cond/x "$work/c2" --if-none-match >/dev/null 2>"$work/err"
	local rc=$?
	[ $rc = 3 ] || { echo "second conditional put: exit $rc"; cat "$work/err"; return 1; }
	grep -q 412 "$work/err" || return 1
	[ "$("$T" get cond/x 2>/dev/null)" = first ]
}

t_delete() {
	echo gone >"$work/d"
	"$T" put del/x "$work/d" >/dev/null 2>&1 || return 1
	"$T" delete del/x 2>/dev/null || return 1
	"$T" get del/x >/dev/null 2>&1
	local rc=$?
	[ $rc = 4 ] || { echo "get after delete: exit $rc"; return 1; }
	# Deleting a missing key is success.
	"$T" delete del/x 2>/dev/null
}

t_wrong_secret() {
	S3_SECRET_KEY=not-the-secret "$T" list rt/ >/dev/null 2>"$work/err"
	local rc=$?
	[ $rc = 1 ] || { echo "exit $rc"; return 1; }
	grep -q 'Permission denied (HTTP 403 SignatureDoesNotMatch, request tx[0-9a-f-]*default)' "$work/err" || { cat "$work/err"; return 1; }
}

t_missing_bucket() {
	S3_BUCKET=no-such-bucket "$T" list x/ >/dev/null 2>"$work/err"
	[ $? = 4 ] && grep -q NoSuchBucket "$work/err"
}

# RGW refuses requests more than 15 minutes off (RequestTimeTooSkewed); the client takes the
# server's Date, re-signs and retries once.
t_clock_skew() {
	local off
	echo skew >"$work/s"
	for off in +20m -20m +3h; do
		faketime -f "$off" "$T" put "skew/$off" "$work/s" >/dev/null 2>"$work/err" ||
			{ echo "put at $off"; cat "$work/err"; return 1; }
		grep -q 'clock corrected' "$work/err" || { echo "no correction at $off"; return 1; }
		[ "$(faketime -f "$off" "$T" get "skew/$off" 2>/dev/null)" = skew ] || return 1
		faketime -f "$off" "$T" list skew/ >/dev/null 2>&1 || return 1
	done
}

t_connection_refused() {
	# Nothing listens there: the retries back off and the tool reports the transport error.
	S3_ENDPOINT=http://127.0.0.1:9 "$T" get x >/dev/null 2>"$work/err"
	[ $? = 1 ] && grep -q 'retries=4' "$work/err"
}

# A fake S3 for what RGW will not do on demand: 5xx and SlowDown. Paths under /e2e/ answer
# by name; GET /count/<name> says how many requests <name> got.
start_fake() {
	python3 - "$FAKE_PORT" <<'PY' >"$work/fake.log" 2>&1 &
import sys, http.server, collections
count = collections.Counter()
ERR = '<?xml version="1.0"?><Error><Code>%s</Code><Message/></Error>'
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self, status, body=b"", etag=None):
        self.send_response(status)
        if etag:
            self.send_header("ETag", '"%s"' % etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if self.path.startswith("/count/"):
            return self.reply(200, str(count[self.path[7:]]).encode())
        name = self.path.rsplit("/", 1)[-1]
        count[name] += 1
        c = count[name]
        if name.startswith("slowdown2") and c <= 2:
            return self.reply(503, (ERR % "SlowDown").encode())
        if name.startswith("always500"):
            return self.reply(500, (ERR % "InternalError").encode())
        self.reply(200, b"ok", etag="0123abcd")
    do_GET = do_PUT = do_DELETE = handle_any
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
	fake_pid=$!
	for _ in $(seq 1 50); do
		curl -s -o /dev/null "http://127.0.0.1:$FAKE_PORT/count/x" && return 0
		sleep 0.1
	done
	return 1
}
fake_count() { curl -s "http://127.0.0.1:$FAKE_PORT/count/$1"; }
fake() { S3_ENDPOINT=http://127.0.0.1:$FAKE_PORT "$T" "$@"; }

t_retry_slowdown() {
	[ "$(fake get e2e/slowdown2-get 2>"$work/err")" = ok ] || { cat "$work/err"; return 1; }
	[ "$(fake_count slowdown2-get)" = 3 ] && grep -q 'retries=2' "$work/err"
}

t_retry_gives_up() {
	fake get e2e/always500-get >/dev/null 2>"$work/err"
	[ $? = 1 ] && [ "$(fake_count always500-get)" = 5 ] && grep -q 'HTTP 500 InternalError' "$work/err"
}

# After a 500 a conditional PUT may or may not have been applied: never resent, -EIO.
t_conditional_no_blind_retry() {
	echo x >"$work/f"
	fake put e2e/always500-cond "$work/f" --if-none-match >/dev/null 2>"$work/err"
	local rc=$?
	if [ $rc != 1 ] || [ "$(fake_count always500-cond)" != 1 ]; then
		cat "$work/err"
		return 1
	fi
	# SlowDown means it was not processed: that one is retried.
	fake put e2e/slowdown2-cond "$work/f" --if-none-match >/dev/null 2>"$work/err" || return 1
	[ "$(fake_count slowdown2-cond)" = 3 ]
}

check s3tool_make_bucket t_mb
check s3_put_get_roundtrip_etag t_roundtrip
check s3_empty_object t_empty_object
check s3_list_pagination_2500 t_pagination
check s3_get_many_2500 t_get_many
check s3_key_encoding t_key_encoding
check s3_conditional_put_eexist t_conditional_put
check s3_delete_then_get_enoent t_delete
check s3_wrong_secret_refused t_wrong_secret
check s3_missing_bucket_enoent t_missing_bucket
if command -v faketime >/dev/null; then
	check s3_clock_skew_corrected t_clock_skew
else
	echo "s3_clock_skew_corrected: faketime not installed (tests/install-deps.sh)"
fi
check s3_connection_refused_retries t_connection_refused
FAKE_PORT=${S3_E2E_FAKE_PORT:-7493}
if start_fake; then
	check s3_retry_slowdown t_retry_slowdown
	check s3_retry_gives_up_after_max_attempts t_retry_gives_up
	check s3_conditional_put_no_blind_retry t_conditional_no_blind_retry
else
	cat "$work/fake.log"
	echo "FAIL s3_fake_server"
	failed=1
fi
exit $failed
