#!/bin/bash
# cloud-config/{linode,vultr}.yaml (issue 6): rendered the way Terraform's templatefile() does
# with test values, each is valid for Debian's cloud-init (`cloud-init schema --config-file`),
# writes /etc/clique/clique.conf 0600, installs the .deb and starts the units, and the config it
# writes is accepted by clique-boot. Issue 14: the runcmd script, as cloud-init writes it
# (cloudinit.util.shellify), runs in a private mount namespace (a tmpfs on /run) with a file://
# deb_url, the real curl and sha256sum, and apt-get, systemctl, chmod and ufw replaced by
# recorders: the download is installed only when deb_sha256 matches, a mismatch fails the
# script with a line naming both sums, and Vultr's ufw rule is added only when ufw is active.
# Prints "ok <check>" / "FAIL <check>".
# shellcheck disable=SC2016 # the recorders' and the namespace's scripts expand when they run
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
command -v cloud-init >/dev/null || { echo "cloud-init missing (make deps)"; exit 77; }
BIN=$top/${BUILD:-build}/clique-boot
fails=0
ok() { echo "ok cloud-config: $1"; }
fail() {
	echo "FAIL cloud-config: $1"
	fails=$((fails + 1))
}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

cat >"$d/inspect.py" <<'EOF'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
files = {f["path"]: f for f in doc.get("write_files", [])}
conf = files["/etc/clique/clique.conf"]
assert str(conf.get("permissions")) == "0600", "clique.conf permissions"
assert conf.get("owner", "root:root") == "root:root", "clique.conf owner"
open(sys.argv[2], "w").write(conf["content"])
run = repr(doc.get("runcmd", []))
assert "apt-get install" in run and "clique-boot.deb" in run, "installs the .deb"
assert "--force-confold" in run, "keeps the written clique.conf"
assert "clique-boot.service" in run and "clique-refresh.timer" in run, "starts the units"
EOF
vars=(deb_url=https://example.invalid/clique-boot_0.1.0_amd64.deb
	bucket_endpoint=http://127.0.0.1:9 bucket=clique-mesh-0a1b2c3d bucket_region=us-east-1
	access_key=TESTACCESSKEY secret_key=test/secret+key
	mesh_key=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= listen_port=51871 address=10.15.0.1
	deb_sha256=0000000000000000000000000000000000000000000000000000000000000000)
for cloud in linode vultr; do
	t=cloud-config/$cloud.yaml
	if ! python3 "$top/tests/fakes/templatefile.py" "$t" "$d/$cloud.yaml" "${vars[@]}" 2>"$d/err"; then
		fail "$t renders: $(cat "$d/err")"
		continue
	fi
	out=$(cloud-init schema --config-file "$d/$cloud.yaml" 2>&1)
	if [ $? = 0 ] && echo "$out" | grep -q '^Valid cloud-config'; then
		ok "$t: cloud-init schema: valid"
	else
		echo "$out"
		fail "$t: cloud-init schema"
	fi
	if python3 "$d/inspect.py" "$d/$cloud.yaml" "$d/$cloud.conf" 2>"$d/err"; then
		ok "$t: writes clique.conf 0600, installs the .deb, starts the units"
	else
		tail -1 "$d/err"
		fail "$t: content"
	fi
	# the written config is accepted (bad keys or values would be exit 78); the bucket and the
	# metadata service are out of reach here, so the provider is overridden as static
	chmod 600 "$d/$cloud.conf"
	out=$(CLIQUE_PROVIDER=static CLIQUE_INSTANCE_ID=1 CLIQUE_REGION=test CLIQUE_WAN_IPV4=192.0.2.1 \
		"$BIN" --dry-run --config "$d/$cloud.conf" --root "$d/root-$cloud" 2>&1)
	rc=$?
	if [ $rc != 78 ] && [ $rc != 64 ] && echo "$out" | grep -q '^self .*10\.15\.0\.1/16'; then
		ok "$t: clique-boot accepts the config it writes"
	else
		echo "$out"
		fail "$t: clique-boot rejects the written config (exit $rc)"
	fi
done

# -- the runcmd script, run against a downloaded file
# recorders for what must not run here; apt-get also records the sha256 of what it installs
mkdir "$d/bin" || exit 1
for c in systemctl chmod; do
	printf '#!/bin/sh\necho "%s $*" >>"$RECORD"\n' "$c" >"$d/bin/$c"
done
printf '#!/bin/sh\necho "apt-get $*" >>"$RECORD"\nsha256sum /run/clique-boot.deb >>"$RECORD"\n' >"$d/bin/apt-get"
printf '#!/bin/sh\nif [ "$1" = status ]; then echo "Status: $UFW_STATE"; else echo "ufw $*" >>"$RECORD"; fi\n' >"$d/bin/ufw"
chmod 755 "$d/bin/systemctl" "$d/bin/chmod" "$d/bin/apt-get" "$d/bin/ufw"
head -c 4096 /dev/urandom >"$d/pkg.deb"
sum=$(sha256sum "$d/pkg.deb" | cut -d' ' -f1)
wrong=$(printf '%s' "$sum" | tr 0-9a-f 1-9a-f0)
# runcmd CLOUD SHA256 UFW_STATE: renders with a file:// deb_url, writes the runcmd script as
# cloud-init does and runs it; its output in $d/out, what remains in /run in $d/run-left
runcmd() {
	/usr/bin/python3 "$top/tests/fakes/templatefile.py" "cloud-config/$1.yaml" "$d/rc.yaml" "${vars[@]}" \
		"deb_url=file://$d/pkg.deb" "deb_sha256=$2" &&
		/usr/bin/python3 -c 'import sys, yaml, cloudinit.util as u
open(sys.argv[2], "w").write(u.shellify(yaml.safe_load(open(sys.argv[1]))["runcmd"]))' \
			"$d/rc.yaml" "$d/runcmd" || return 99
	: >"$d/record"
	RECORD=$d/record UFW_STATE=$3 PATH=$d/bin:$PATH unshare -m sh -c \
		'mount -t tmpfs tmpfs /run && sh "$1"; rc=$?; ls -A /run >"$2"; exit $rc' \
		sh "$d/runcmd" "$d/run-left" >"$d/out" 2>&1
}
if [ "$(id -u)" != 0 ]; then
	echo "# runcmd checks skipped: unshare -m needs root"
else
	for cloud in linode vultr; do
		t=cloud-config/$cloud.yaml
		runcmd "$cloud" "$sum" inactive
		rc=$?
		if [ $rc = 0 ] && grep -q "^$sum " "$d/record" &&
			grep -qx "apt-get install -y -o Dpkg::Options::=--force-confold /run/clique-boot.deb" "$d/record" &&
			grep -qx "systemctl enable --now clique-boot.service clique-refresh.timer" "$d/record"; then
			ok "$t: runcmd installs the download whose sha256 is deb_sha256, then starts the units"
		else
			cat "$d/out" "$d/record"
			fail "$t: runcmd with the right sha256 (exit $rc)"
		fi
		runcmd "$cloud" "$wrong" inactive
		rc=$?
		if [ $rc != 0 ] && [ $rc != 99 ] && ! grep -q '^apt-get\|^systemctl' "$d/record" &&
			[ ! -s "$d/run-left" ] &&
			grep -qx "clique-boot: not installing file://$d/pkg.deb: sha256 $sum, expected deb_sha256 $wrong" "$d/out"; then
			ok "$t: runcmd refuses a download whose sha256 differs (exit $rc; nothing installed or started, the file removed, both sums in the log)"
		else
			cat "$d/out" "$d/record"
			fail "$t: runcmd with a wrong sha256 (exit $rc)"
		fi
	done
	runcmd vultr "$sum" inactive
	n_inactive=$(grep -c '^ufw allow 51871/udp$' "$d/record")
	runcmd vultr "$sum" active
	n_active=$(grep -c '^ufw allow 51871/udp$' "$d/record")
	if [ "$n_inactive" = 0 ] && [ "$n_active" = 1 ]; then
		ok "cloud-config/vultr.yaml: ufw allow 51871/udp when ufw is active, not when inactive"
	else
		fail "cloud-config/vultr.yaml: ufw allow ran $n_inactive time(s) when inactive, $n_active when active"
	fi
fi

# the schema check does fail on a broken document
printf '#cloud-config\nwrite_files: 42\nruncmd: {}\n' >"$d/bad.yaml"
if cloud-init schema --config-file "$d/bad.yaml" >/dev/null 2>&1; then
	fail "cloud-init schema accepts a broken document"
else
	ok "cloud-init schema rejects a broken document"
fi
exit $((fails > 0))
