/*
 * The block-YAML subset of yaml.h, one line at a time: a stack of open mappings and sequences
 * by indentation, the path of the current node, and a callback per scalar (YAML 1.2 sections
 * 6.1 indentation, 8.2.1 block sequences, 8.2.2 block mappings, 7.3 quoted scalars).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "md-internal.h"
#include "yaml.h"

#define YAML_VALUE_MAX 512

struct yaml_frame {
	int indent;
	bool seq;
	int index;	/* a sequence's last item, -1 before the first */
	size_t pathlen; /* length of this node's path */
};

struct yaml {
	yaml_scalar_fn fn;
	void *userdata;
	char path[YAML_PATH_MAX];
	size_t pathlen;
	struct yaml_frame frames[YAML_DEPTH_MAX];
	size_t n;
	/* "key:" or "-" with nothing after it: the node starts on a later line, as a sequence
	 * indented at least seq_min or as a mapping indented at least map_min */
	bool pending;
	int map_min, seq_min;
	int skip_deeper; /* a block scalar's body: lines indented deeper are skipped; -1 none */
	bool closed;	 /* the root was "[]" or "{}": nothing may follow */
	char value[YAML_VALUE_MAX];
};

static int yaml_append(struct yaml *y, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int yaml_append(struct yaml *y, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(y->path + y->pathlen, sizeof(y->path) - y->pathlen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(y->path) - y->pathlen)
		return -EINVAL;
	y->pathlen += n;
	return 0;
}

/* Back to the path of the innermost open node. */
static void yaml_truncate(struct yaml *y)
{
	y->pathlen = y->n ? y->frames[y->n - 1].pathlen : 0;
	y->path[y->pathlen] = '\0';
}

static int yaml_emit(struct yaml *y, const char *v, size_t len)
{
	int r;

	if (len >= sizeof(y->value))
		return -EINVAL;
	memcpy(y->value, v, len);
	y->value[len] = '\0';
	r = y->fn(y->userdata, y->path, y->value, len);
	yaml_truncate(y);
	return r;
}

static int yaml_push(struct yaml *y, int indent, bool seq)
{
	if (y->n == YAML_DEPTH_MAX)
		return -EINVAL;
	y->frames[y->n++] = (struct yaml_frame){indent, seq, -1, y->pathlen};
	return 0;
}

static void yaml_pop(struct yaml *y)
{
	y->n--;
	yaml_truncate(y);
}

static bool yaml_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* Length of "key" when s starts with "key:" followed by a space or the end; else 0. */
static size_t yaml_key_len(const char *s, size_t n)
{
	size_t k = 0;

	while (k < n && yaml_key_char(s[k]))
		k++;
	if (!k || k == n || s[k] != ':' || (k + 1 < n && s[k + 1] != ' '))
		return 0;
	return k;
}

static bool yaml_is_dash(const char *s, size_t n)
{
	return n && s[0] == '-' && (n == 1 || s[1] == ' ');
}

/* n without trailing spaces and a " #" comment (callers ensure s[0] is not '#'). */
static size_t yaml_trim_comment(const char *s, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++) {
		if (s[i] == '#' && s[i - 1] == ' ') {
			n = i;
			break;
		}
	}
	while (n && s[n - 1] == ' ')
		n--;
	return n;
}

static int yaml_plain(struct yaml *y, const char *s, size_t n)
{
	size_t i;

	n = yaml_trim_comment(s, n);
	/* indicators that start something outside the subset (anchors, tags, flow maps...) */
	if (strchr("[]{}&*!|>'\"%@`#,", s[0]) ||
	    ((s[0] == '?' || s[0] == ':' || s[0] == '-') && (n == 1 || s[1] == ' ')))
		return -EINVAL;
	for (i = 0; i + 1 < n; i++) {
		if (s[i] == ':' && s[i + 1] == ' ')
			return -EINVAL;
	}
	return yaml_emit(y, s, n);
}

/* 'it''s' or "plain": one line, then nothing but a comment. */
static int yaml_quoted(struct yaml *y, const char *s, size_t n)
{
	char q = s[0], out[YAML_VALUE_MAX];
	size_t i, len = 0;

	for (i = 1; i < n; i++) {
		if (s[i] == q && q == '\'' && i + 1 < n && s[i + 1] == '\'') {
			i++;
		} else if (s[i] == q) {
			break;
		} else if (s[i] == '\\' && q == '"') {
			return -EINVAL; /* escapes are outside the subset */
		}
		if (len == sizeof(out))
			return -EINVAL;
		out[len++] = s[i];
	}
	if (i == n)
		return -EINVAL;
	i++;
	if (yaml_trim_comment(s + i - 1, n - i + 1) != 1)
		return -EINVAL;
	return yaml_emit(y, out, len);
}

/* [a, b] of plain scalars: one scalar per element at path[i]. */
static int yaml_flow_seq(struct yaml *y, const char *s, size_t n)
{
	size_t start = 1, end, i, base = y->pathlen;
	char key[YAML_PATH_MAX];
	int idx = 0, r;

	n = yaml_trim_comment(s, n);
	if (n < 2 || s[n - 1] != ']')
		return -EINVAL;
	for (i = 1; i < n - 1 && s[i] == ' '; i++)
		;
	if (i == n - 1) {
		yaml_truncate(y);
		return 0;
	}
	memcpy(key, y->path, base + 1);
	while (start < n) {
		for (end = start; end < n - 1 && s[end] != ','; end++)
			;
		while (start < end && s[start] == ' ')
			start++;
		for (i = start; i < end; i++) {
			if (strchr("[]{}'\"", s[i]))
				return -EINVAL;
		}
		if (start == end)
			return -EINVAL;
		memcpy(y->path, key, base + 1);
		y->pathlen = base;
		r = yaml_append(y, "[%d]", idx++);
		if (r < 0)
			return r;
		r = yaml_plain(y, s + start, end - start);
		if (r)
			return r;
		start = end + 1;
	}
	return 0;
}

/* The value after "key: " or "- "; parent_indent bounds a block scalar's body. */
static int yaml_value(struct yaml *y, int parent_indent, const char *s, size_t n)
{
	size_t i;

	switch (s[0]) {
	case '\'':
	case '"':
		return yaml_quoted(y, s, n);
	case '[':
		return yaml_flow_seq(y, s, n);
	case '{':
		n = yaml_trim_comment(s, n);
		if (n < 2 || s[n - 1] != '}')
			return -EINVAL;
		for (i = 1; i < n - 1; i++) {
			if (s[i] != ' ')
				return -EINVAL;
		}
		yaml_truncate(y);
		return 0;
	case '|':
	case '>':
		n = yaml_trim_comment(s, n);
		for (i = 1; i < n; i++) {
			if (!strchr("+-123456789", s[i]))
				return -EINVAL;
		}
		y->skip_deeper = parent_indent;
		yaml_truncate(y);
		return 0;
	}
	return yaml_plain(y, s, n);
}

static void yaml_set_pending(struct yaml *y, int map_min, int seq_min)
{
	y->pending = true;
	y->map_min = map_min;
	y->seq_min = seq_min;
}

static int yaml_entry(struct yaml *y, int indent, const char *s, size_t n)
{
	size_t k = yaml_key_len(s, n), i;
	int r;

	if (!k)
		return -EINVAL;
	r = yaml_append(y, "%s%.*s", y->pathlen ? "." : "", (int)k, s);
	if (r < 0)
		return r;
	for (i = k + 1; i < n && s[i] == ' '; i++)
		;
	if (i == n || s[i] == '#') {
		/* a sequence may sit at its key's indentation (PyYAML's default) */
		yaml_set_pending(y, indent + 1, indent);
		return 0;
	}
	return yaml_value(y, indent, s + i, n - i);
}

static int yaml_item(struct yaml *y, int indent, const char *s, size_t n)
{
	struct yaml_frame *top = &y->frames[y->n - 1];
	int col = indent + 1, r;
	size_t i = 1;

	r = yaml_append(y, "[%d]", ++top->index);
	if (r < 0)
		return r;
	while (i < n && s[i] == ' ') {
		i++;
		col++;
	}
	if (i == n || s[i] == '#') {
		yaml_set_pending(y, indent + 1, indent + 1);
		return 0;
	}
	if (yaml_is_dash(s + i, n - i))
		return -EINVAL; /* "- - x" */
	if (!yaml_key_len(s + i, n - i))
		return yaml_value(y, indent, s + i, n - i);
	r = yaml_push(y, col, false);
	if (r < 0)
		return r;
	return yaml_entry(y, col, s + i, n - i);
}

/* Opens the node of a pending "key:" or "-", or gives it the empty value. */
static int yaml_resolve_pending(struct yaml *y, int indent, bool dash)
{
	y->pending = false;
	if (dash ? indent >= y->seq_min : indent >= y->map_min)
		return yaml_push(y, indent, dash);
	return yaml_emit(y, "", 0);
}

static int yaml_line(struct yaml *y, int indent, const char *s, size_t n)
{
	bool dash = yaml_is_dash(s, n);
	int r;

	if (y->closed)
		return -EINVAL;
	if (!y->n && !y->pending) {
		if (indent)
			return -EINVAL;
		if ((n == 2 && (!memcmp(s, "[]", 2) || !memcmp(s, "{}", 2)))) {
			y->closed = true;
			return 0;
		}
		r = yaml_push(y, 0, dash);
		if (r < 0)
			return r;
	}
	if (y->pending) {
		r = yaml_resolve_pending(y, indent, dash);
		if (r)
			return r;
	}
	while (y->n && y->frames[y->n - 1].indent > indent)
		yaml_pop(y);
	/* a sequence at its key's indentation ends at the next key */
	if (y->n && y->frames[y->n - 1].seq && y->frames[y->n - 1].indent == indent && !dash)
		yaml_pop(y);
	if (!y->n || y->frames[y->n - 1].indent != indent || y->frames[y->n - 1].seq != dash)
		return -EINVAL;
	return dash ? yaml_item(y, indent, s, n) : yaml_entry(y, indent, s, n);
}

/* One raw line: control bytes and tab indentation are refused, blank and comment lines and a
 * block scalar's body skipped. */
static int yaml_raw_line(struct yaml *y, const char *s, size_t n, bool first)
{
	size_t i;
	int indent = 0;

	if (n && s[n - 1] == '\r')
		n--;
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return -EINVAL;
	}
	while ((size_t)indent < n && s[indent] == ' ')
		indent++;
	s += indent;
	n -= indent;
	while (n && s[n - 1] == ' ')
		n--;
	if (!n)
		return 0;
	if (y->skip_deeper >= 0 && indent > y->skip_deeper)
		return 0;
	y->skip_deeper = -1;
	if (s[0] == '#' || (first && !indent && n == 3 && !memcmp(s, "---", 3)))
		return 0;
	return yaml_line(y, indent, s, n);
}

int yaml_walk(const char *buf, size_t len, yaml_scalar_fn fn, void *userdata)
{
	struct yaml y = {.fn = fn, .userdata = userdata, .skip_deeper = -1};
	const char *nl;
	size_t pos = 0;
	bool first = true;
	int r;

	if (len > MD_MAX_BODY)
		return -EMSGSIZE;
	while (pos < len) {
		nl = memchr(buf + pos, '\n', len - pos);
		r = yaml_raw_line(&y, buf + pos, nl ? (size_t)(nl - buf - pos) : len - pos, first);
		if (r)
			return r;
		if (y.n || y.closed)
			first = false;
		pos = nl ? (size_t)(nl - buf) + 1 : len;
	}
	if (y.pending)
		return yaml_emit(&y, "", 0);
	return 0;
}
