#!/bin/bash
# Test certificates with openssl(1), sourced by the HTTPS tests:
#   testca_ca DIR NAME            -> DIR/NAME.pem, DIR/NAME.key: a self-signed CA
#   testca_cert DIR CA NAME SANS  -> DIR/NAME.pem (the server certificate, then the CA's, as a
#                                    TLS server sends them), DIR/NAME.key; SANS in
#                                    subjectAltName syntax: DNS:rgw.clique.test,IP:127.0.0.1
# EC P-256 keys, valid for two days.
testca_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=clique-boot test CA $2" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign \
		-keyout "$1/$2.key" -out "$1/$2.pem" 2>/dev/null
}

testca_cert() {
	local d=$1 ca=$2 name=$3 sans=$4
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj "/CN=$name" -keyout "$d/$name.key" -out "$d/$name.csr" 2>/dev/null || return 1
	printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' \
		"$sans" >"$d/$name.ext"
	openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.pem" -CAkey "$d/$ca.key" \
		-CAcreateserial -days 2 -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null ||
		return 1
	cat "$d/$name.crt" "$d/$ca.pem" >"$d/$name.pem"
	rm -f "$d/$name.csr" "$d/$name.ext" "$d/$name.crt"
}
