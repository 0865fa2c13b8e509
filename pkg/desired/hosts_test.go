package desired

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateHostsAccepts(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{[]string{"chatqna.example.com"}, []string{"chatqna.example.com"}},
		{[]string{"*.example.com"}, []string{"*.example.com"}},
		{[]string{"*.com"}, []string{"*.com"}},
		{[]string{"  ChatQnA.Example.COM\t"}, []string{"chatqna.example.com"}},
		{[]string{"a.example.com", "A.EXAMPLE.COM", " a.example.com ", "b.example.com"}, []string{"a.example.com", "b.example.com"}},
		{[]string{"*.Example.com", "*.example.com"}, []string{"*.example.com"}},
		{[]string{"1chat.example.com"}, []string{"1chat.example.com"}},
		{[]string{"10.0.0.1.example.com"}, []string{"10.0.0.1.example.com"}},
		{[]string{"chat-qna.example.io"}, []string{"chat-qna.example.io"}},
		{[]string{"xn--bcher-kva.example"}, []string{"xn--bcher-kva.example"}},
		{[]string{"example.com1"}, []string{"example.com1"}},
		{[]string{"example.0xg"}, []string{"example.0xg"}},
		{[]string{strings.Repeat("a", 63) + ".example.com"}, []string{strings.Repeat("a", 63) + ".example.com"}},
		{[]string{"*." + strings.Repeat("a", 63) + ".com"}, []string{"*." + strings.Repeat("a", 63) + ".com"}},
		// 3 labels of 63 and one of 61: 253 characters.
		{[]string{longName(253)}, []string{longName(253)}},
	} {
		got, err := ValidateHosts(tc.in)
		if err != nil {
			t.Errorf("ValidateHosts(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ValidateHosts(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestValidateHostsRejects(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // all in the error
	}{
		// IP addresses: no SNI, and secure requests no IP SAN.
		{"10.0.0.1", []string{`"10.0.0.1"`, "IP address", "SNI", "IP SAN", "use a DNS name"}},
		{"::1", []string{`"::1"`, "IP address", "use a DNS name"}},
		{"[::1]", []string{`"[::1]"`, "IP address"}},
		{"2001:DB8::1", []string{`"2001:DB8::1"`, "IP address"}},
		{"::ffff:10.0.0.1", []string{"IP address"}},
		{"fe80::1%eth0", []string{"IP address"}},
		{" 192.168.1.10 ", []string{`"192.168.1.10"`, "IP address"}},
		// Labels longer than 63 characters, though the name is short enough.
		{strings.Repeat("a", 64) + ".example.com", []string{"is 64 characters long", "63"}},
		{"chatqna." + strings.Repeat("b", 70) + ".com", []string{"is 70 characters long"}},
		{"*." + strings.Repeat("c", 64) + ".com", []string{"is 64 characters long"}},
		{"chatqna.example." + strings.Repeat("d", 64), []string{"is 64 characters long"}},
		// Longer than 253 in all.
		{longName(254), []string{"is 254 characters long", "253"}},
		{"*." + longName(252), []string{"253"}},
		// A numeric last label reads as an IPv4 address.
		{"example.123", []string{`"example.123"`, `numeric label "123"`, "IPv4", "chatqna.example.com"}},
		{"10.0.0.256", []string{`numeric label "256"`}},
		{"1.2.3", []string{`numeric label "3"`}},
		{"010.0.0.1", []string{`numeric label "1"`}},
		{"2130706433", []string{`numeric label "2130706433"`}},
		{"0x7f.1", []string{`numeric label "1"`}},
		{"*.123", []string{`numeric label "123"`}},
		{"chatqna.0x1F", []string{`numeric label "0x1f"`}},
		{"chatqna.0x", []string{`numeric label "0x"`}},
		// Wildcards only as the whole leftmost label.
		{"*", []string{`"*"`, "whole leftmost label"}},
		{"*.", []string{`"*."`}},
		{"*.*.example.com", []string{"whole leftmost label"}},
		{"a.*.example.com", []string{`"a.*.example.com"`, "whole leftmost label"}},
		{"*chat.example.com", []string{"whole leftmost label"}},
		{"chat*.example.com", []string{"whole leftmost label"}},
		{"**.example.com", []string{"whole leftmost label"}},
		// Other forms DNS or certificates do not allow.
		{"", []string{"is empty"}},
		{"   ", []string{"is empty"}},
		{"localhost", []string{"fully qualified"}},
		{"chat_qna.example.com", []string{`"chat_qna.example.com"`}},
		{"-chat.example.com", []string{"RFC 1123"}},
		{"chat-.example.com", []string{"RFC 1123"}},
		{"chat..example.com", []string{"RFC 1123"}},
		{".example.com", []string{"RFC 1123"}},
		{"example.com.", []string{"RFC 1123"}},
		{"chat qna.example.com", []string{"RFC 1123"}},
		{"ns/chatqna.example.com", []string{"RFC 1123"}},
		// A URL, or a host with a port or path, as copied from a browser:
		// the bare host name is named, and no regular expression.
		{"https://chatqna.example.com/", []string{`"https://chatqna.example.com/": is a URL, not a host name: give the bare host name: chatqna.example.com`}},
		{"https://chatqna.example.com", []string{"is a URL", "give the bare host name: chatqna.example.com"}},
		{"http://ChatQnA.example.com:8443/v1/chatqna?x=1", []string{"is a URL", "give the bare host name: chatqna.example.com"}},
		{"https://*.example.com/", []string{"is a URL", "give the bare host name: *.example.com"}},
		{"chatqna.example.com:443", []string{"is a host name with a port", "give the bare host name: chatqna.example.com"}},
		{"chatqna.example.com/", []string{"with a trailing slash", "give the bare host name: chatqna.example.com"}},
		{"chatqna.example.com/ui", []string{"with a path", "give the bare host name: chatqna.example.com"}},
		{"chatqna.example.com:443/ui", []string{"with a port and a path", "give the bare host name: chatqna.example.com"}},
		{"bücher.example", []string{"non-ASCII", "xn--"}},
		// The Kelvin sign lower-cases to "k": not silently turned into another name.
		{"\u212Aa.example.com", []string{"non-ASCII"}},
	} {
		got, err := ValidateHosts([]string{"ok.example.com", tc.in})
		if err == nil {
			t.Errorf("ValidateHosts(%q) = %q, want an error", tc.in, got)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ValidateHosts(%q) error = %v, want one with %q", tc.in, err, w)
			}
		}
		if !strings.HasPrefix(err.Error(), "invalid --host ") || strings.Contains(err.Error(), "ok.example.com") {
			t.Errorf("ValidateHosts(%q) error = %v, want one about the bad host only", tc.in, err)
		}
	}
}

// Every bad host is named at once.
func TestValidateHostsNamesEveryBadHost(t *testing.T) {
	_, err := ValidateHosts([]string{"10.0.0.1", "ok.example.com", "example.123"})
	if err == nil || !strings.Contains(err.Error(), `"10.0.0.1"`) || !strings.Contains(err.Error(), `"example.123"`) {
		t.Errorf("error = %v, want both bad hosts", err)
	}
}

// longName is a valid name of n characters: labels of up to 63 characters.
func longName(n int) string {
	var labels []string
	for n > 0 {
		l := min(63, n)
		if n-l == 1 {
			l-- // the next label needs a dot and at least one character
		}
		labels = append(labels, strings.Repeat("x", l))
		n -= l + 1
	}
	return strings.Join(labels, ".")
}
