package conf

import (
	"strings"
	"testing"
)

// FuzzParse: any configuration text either loads into a valid Config or
// fails with one line naming the place; it never panics.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"port 6379\nbind 127.0.0.1\n",
		"requirepass \"a\\x41\\n\" \n# comment\n",
		"cluster 1=127.0.0.1:17001/127.0.0.1:7001,2=127.0.0.1:17002/127.0.0.1:7002\n",
		"maxmemory 1gb\nproto-max-bulk-len 2mb\n",
		"x 'unbalanced\n",
		"heartbeat-interval 2000\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse(text)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			if !strings.HasPrefix(err.Error(), "conf: ") {
				t.Fatalf("error does not start with conf: %q", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
		// CONFIG GET shows every directive; what it shows must load back.
		var b strings.Builder
		for _, kv := range c.Get("*") {
			b.WriteString(kv[0] + " " + quote(kv[1]) + "\n")
		}
		again, err := Parse(b.String())
		if err != nil {
			t.Fatalf("re-parsing CONFIG GET * output failed: %v\n%s", err, b.String())
		}
		for _, kv := range again.Get("*") {
			if got := c.Get(kv[0])[0][1]; got != kv[1] {
				t.Fatalf("%s: %q after round trip, was %q", kv[0], kv[1], got)
			}
		}
	})
}

// quote writes v as a double-quoted redis.conf word.
func quote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case ch == '"' || ch == '\\':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case ch < 0x20 || ch >= 0x7f:
			const hex = "0123456789abcdef"
			b.WriteString("\\x")
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&15])
		default:
			b.WriteByte(ch)
		}
	}
	b.WriteByte('"')
	return b.String()
}
