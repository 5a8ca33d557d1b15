/* http_tls_error_text(): the reason line for each TLS failure, from curl 7.88's own texts
 * (lib/vtls/openssl.c of Debian's curl source: failf()/msnprintf() in ossl_connect_step2,
 * verifyhost and servercert). */
#include <curl/curl.h>

#include "../../bootstrap/http.h"
#include "test.h"

struct tls_case {
	int rc;
	const char *detail, *want;
};

static const struct tls_case cases[] = {
	{CURLE_PEER_FAILED_VERIFICATION,
	 "SSL certificate problem: unable to get local issuer certificate",
	 "TLS certificate not trusted (unable to get local issuer certificate)"},
	{CURLE_PEER_FAILED_VERIFICATION, "SSL certificate problem: certificate has expired",
	 "TLS certificate not trusted (certificate has expired)"},
	{CURLE_PEER_FAILED_VERIFICATION,
	 "SSL: no alternative certificate subject name matches target host name 'localhost'",
	 "TLS certificate does not match the host name (no alternative certificate subject name "
	 "matches target host name 'localhost')"},
	{CURLE_PEER_FAILED_VERIFICATION,
	 "SSL: certificate subject name 'rgw' does not match target host name '127.0.0.2'",
	 "TLS certificate does not match the host name (certificate subject name 'rgw' does not "
	 "match target host name '127.0.0.2')"},
	{CURLE_PEER_FAILED_VERIFICATION, "SSL: couldn't get peer certificate",
	 "TLS certificate refused (couldn't get peer certificate)"},
	{CURLE_SSL_CONNECT_ERROR,
	 "OpenSSL/3.0.19: error:0A00042E:SSL routines::tlsv1 alert protocol version",
	 "TLS handshake failed (OpenSSL/3.0.19: error:0A00042E:SSL routines::tlsv1 alert protocol "
	 "version)"},
	{CURLE_SSL_CACERT_BADFILE, "error setting certificate file: /x",
	 "TLS CA file unusable (error setting certificate file: /x)"},
	{CURLE_PEER_FAILED_VERIFICATION, "", "TLS certificate refused ()"},
};

static void test_reasons(void)
{
	char out[160];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(http_tls_error_text(cases[i].rc, cases[i].detail, out, sizeof(out)));
		CHECK_STR(out, cases[i].want);
	}
}

static void test_not_tls(void)
{
	char out[16] = "unchanged";

	CHECK(!http_tls_error_text(CURLE_COULDNT_CONNECT, "Connection refused", out, sizeof(out)));
	CHECK(!http_tls_error_text(CURLE_OPERATION_TIMEDOUT, "", out, sizeof(out)));
	CHECK(!http_tls_error_text(CURLE_OK, "", out, sizeof(out)));
	CHECK_STR(out, "unchanged");
}

/* A long detail is cut, and the line still ends in ')'. */
static void test_cut(void)
{
	char out[40];

	CHECK(http_tls_error_text(CURLE_PEER_FAILED_VERIFICATION,
				  "SSL certificate problem: unable to get local issuer certificate",
				  out, sizeof(out)));
	CHECK_INT(strlen(out), sizeof(out) - 1);
	CHECK_STR(out, "TLS certificate not trusted (unable to)");
}

int main(void)
{
	RUN(test_reasons);
	RUN(test_not_tls);
	RUN(test_cut);
	return test_exit();
}
