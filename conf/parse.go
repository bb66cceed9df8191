package conf

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
)

// errUnbalancedQuotes matches redis-server's wording for the same mistake.
var errUnbalancedQuotes = errors.New("unbalanced quotes in configuration line")

// splitArgs splits a configuration line into words the way redis.conf does
// (sdssplitargs): words separated by blanks; "double quotes" with \n \r \t
// \b \a \\ \" and \xHH escapes; 'single quotes' with only \' escaped; a
// closing quote must be followed by a blank or the end of the line.
func splitArgs(line string) ([]string, error) {
	var words []string
	i := 0
	for {
		for i < len(line) && isBlank(line[i]) {
			i++
		}
		if i >= len(line) {
			return words, nil
		}
		var word strings.Builder
		inDouble, inSingle := false, false
		for done := false; !done; {
			if i >= len(line) {
				if inDouble || inSingle {
					return nil, errUnbalancedQuotes
				}
				break
			}
			ch := line[i]
			switch {
			case inDouble:
				switch {
				case ch == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					v, _ := strconv.ParseUint(line[i+2:i+4], 16, 8)
					word.WriteByte(byte(v))
					i += 3
				case ch == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						word.WriteByte('\n')
					case 'r':
						word.WriteByte('\r')
					case 't':
						word.WriteByte('\t')
					case 'b':
						word.WriteByte('\b')
					case 'a':
						word.WriteByte('\a')
					default:
						word.WriteByte(line[i])
					}
				case ch == '"':
					if i+1 < len(line) && !isBlank(line[i+1]) {
						return nil, errUnbalancedQuotes
					}
					done = true
				default:
					word.WriteByte(ch)
				}
			case inSingle:
				switch {
				case ch == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					word.WriteByte('\'')
				case ch == '\'':
					if i+1 < len(line) && !isBlank(line[i+1]) {
						return nil, errUnbalancedQuotes
					}
					done = true
				default:
					word.WriteByte(ch)
				}
			default:
				switch ch {
				case ' ', '\t', '\r', '\n':
					done = true
				case '"':
					inDouble = true
				case '\'':
					inSingle = true
				default:
					word.WriteByte(ch)
				}
			}
			i++
		}
		words = append(words, word.String())
	}
}

func isBlank(ch byte) bool { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' }

func isHex(ch byte) bool {
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')
}

// valueError is a bad value's reason; it reads as just the reason (the
// caller adds the place and directive) and matches ErrInvalidValue. It also
// carries redis-server 7.0's wording for the same mistake, which CONFIG SET
// answers (clients and scripts match on it), while a configuration file or
// command line gets our more specific reason.
type valueError struct{ reason, redisReason string }

func (e *valueError) Error() string        { return e.reason }
func (e *valueError) Is(target error) bool { return target == ErrInvalidValue }

func invalid(format string, args ...any) error {
	return &valueError{reason: fmt.Sprintf(format, args...)}
}

// invalidAs is invalid with redis-server's wording for the same mistake.
func invalidAs(redisReason, format string, args ...any) error {
	return &valueError{reason: fmt.Sprintf(format, args...), redisReason: redisReason}
}

// Redis 7.0's reasons for CONFIG SET's bad values (config.c).
const (
	redisNotInteger  = "argument couldn't be parsed into an integer"
	redisNotMemory   = "argument must be a memory value"
	redisEnumPrefix  = "argument(s) must be one of the following: "
	redisRangeFormat = "argument must be between %d and %d inclusive"
)

// RedisReason is the reason redis-server 7.0 gives in CONFIG SET's error
// reply for the value error err (an ErrInvalidValue from Set), or err's own
// text when Redis has no equivalent.
func RedisReason(err error) string {
	var ve *valueError
	if errors.As(err, &ve) {
		if ve.redisReason != "" {
			return ve.redisReason
		}
		return ve.reason
	}
	return err.Error()
}

func parseInt(v string, dst *int, lo, hi int) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return invalidAs(redisNotInteger, "%q is not an integer", v)
	}
	if n < lo || n > hi {
		return invalidAs(fmt.Sprintf(redisRangeFormat, lo, hi), "%d is out of range [%d, %d]", n, lo, hi)
	}
	*dst = n
	return nil
}

func parseUint(v string, dst *uint64, lo uint64) error {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return invalid("%q is not a non-negative integer", v)
	}
	if n < lo {
		return invalid("%d is smaller than %d", n, lo)
	}
	*dst = n
	return nil
}

func parseNodeID(v string, dst *uint64) error {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return invalid("%q is not a node id (a positive integer)", v)
	}
	*dst = n
	return nil
}

func parsePort(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return invalid("%q is not an integer", v)
	}
	if n < 1 || n > 65535 {
		return invalid("%d is not a TCP port (1-65535)", n)
	}
	*dst = n
	return nil
}

// sizeUnits are redis.conf's memory units: k/m/g are powers of ten, kb/mb/gb
// powers of two.
var sizeUnits = []struct {
	suffix string
	factor int64
}{
	{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
	{"k", 1000}, {"m", 1000 * 1000}, {"g", 1000 * 1000 * 1000},
	{"b", 1},
}

// ParseSize reads a redis.conf memory size such as "512mb", "1g" or "100".
func ParseSize(v string) (int64, error) {
	lower := strings.ToLower(v)
	digits, factor := lower, int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(lower, u.suffix) {
			digits, factor = strings.TrimSuffix(lower, u.suffix), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 {
		return 0, invalidAs(redisNotMemory, "%q is not a memory size (like 100, 1k, 1kb, 512mb, 1gb)", v)
	}
	if n > math.MaxInt64/factor {
		return 0, invalidAs(redisNotMemory, "%q is too large", v)
	}
	return n * factor, nil
}

func parseSize(v string, dst *int64, lo int64) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	if n < lo {
		return invalidAs(fmt.Sprintf(redisRangeFormat, lo, int64(math.MaxInt64)), "%q is smaller than %d bytes", v, lo)
	}
	*dst = n
	return nil
}

func parseEnum(v string, dst *string, allowed ...string) error {
	lower := strings.ToLower(v)
	for _, a := range allowed {
		if lower == a {
			*dst = a
			return nil
		}
	}
	return invalidAs(redisEnumPrefix+strings.Join(allowed, ", "), "%q is not one of %s", v, strings.Join(allowed, "|"))
}

func setNonEmpty(v string, dst *string) error {
	if v == "" {
		return invalid("must not be empty")
	}
	*dst = v
	return nil
}

func setBind(c *Config, v string) error {
	if net.ParseIP(v) == nil && v != "localhost" {
		return invalid("%q is not an IP address", v)
	}
	c.Bind = v
	return nil
}

func checkHostPort(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		return invalid("%q is not host:port", v)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return invalid("%q has no valid port", v)
	}
	return nil
}

func setRaftAddr(c *Config, v string) error {
	if v == "" {
		c.raftAddrSet = false
		return nil
	}
	if err := checkHostPort(v); err != nil {
		return err
	}
	c.RaftAddr, c.raftAddrSet = v, true
	return nil
}

func setOptionalAddr(v string, dst *string) error {
	if v != "" {
		if err := checkHostPort(v); err != nil {
			return err
		}
	}
	*dst = v
	return nil
}

// ParseCluster reads the cluster directive:
//
//	id=raft-host:raft-port/client-host:client-port[,...]
//
// for example "1=127.0.0.1:17001/127.0.0.1:7001,2=127.0.0.1:17002/127.0.0.1:7002".
// IDs are positive and unique; so are raft addresses.
func ParseCluster(v string) ([]Peer, error) {
	var peers []Peer
	seenIDs := map[uint64]bool{}
	seenAddrs := map[string]bool{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		idText, addrs, ok := strings.Cut(item, "=")
		if !ok {
			return nil, invalid("member %q is not id=raftaddr/clientaddr", item)
		}
		id, err := strconv.ParseUint(idText, 10, 64)
		if err != nil || id == 0 {
			return nil, invalid("member %q: %q is not a node id (a positive integer)", item, idText)
		}
		raftAddr, clientAddr, ok := strings.Cut(addrs, "/")
		if !ok {
			return nil, invalid("member %q is not id=raftaddr/clientaddr", item)
		}
		if err := checkHostPort(raftAddr); err != nil {
			return nil, fmt.Errorf("member %q: raft address: %w", item, err)
		}
		if err := checkHostPort(clientAddr); err != nil {
			return nil, fmt.Errorf("member %q: client address: %w", item, err)
		}
		if seenIDs[id] {
			return nil, invalid("node id %d appears twice", id)
		}
		if seenAddrs[raftAddr] {
			return nil, invalid("raft address %q appears twice", raftAddr)
		}
		seenIDs[id], seenAddrs[raftAddr] = true, true
		peers = append(peers, Peer{ID: id, RaftAddr: raftAddr, ClientAddr: clientAddr})
	}
	return peers, nil
}

func setCluster(c *Config, v string) error {
	if v == "" {
		c.Cluster, c.clusterSet = nil, false
		return nil
	}
	peers, err := ParseCluster(v)
	if err != nil {
		return err
	}
	c.Cluster, c.clusterSet = peers, true
	return nil
}

// parseYesNo reads Redis's boolean directive values.
func parseYesNo(v string, dst *bool) error {
	switch strings.ToLower(v) {
	case "yes":
		*dst = true
	case "no":
		*dst = false
	default:
		return invalid("argument must be 'yes' or 'no'")
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
