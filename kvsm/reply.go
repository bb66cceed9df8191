package kvsm

// ReplyKind is the RESP type of a Reply. The state machine answers in these
// kinds; resp/ encodes them as RESP2 or RESP3 for each connection (a Map is
// flattened to an array in RESP2, a Double becomes a bulk string, and so on).
type ReplyKind uint8

const (
	ReplyNil      ReplyKind = iota // null bulk string ($-1 / _)
	ReplyStatus                    // simple string: +OK
	ReplyError                     // error: -ERR ... (Str holds the text without '-')
	ReplyInt                       // :123
	ReplyBulk                      // $3 foo
	ReplyArray                     // *N ...
	ReplyNilArray                  // *-1 (RESP3: _)
	ReplyDouble                    // RESP3 ',' ; RESP2: bulk string
	ReplyMap                       // RESP3 '%' ; RESP2: flat array of key, value
	ReplySet                       // RESP3 '~' ; RESP2: array
	ReplyBool                      // RESP3 '#' ; RESP2: integer 0/1
	// ReplyPairs is an array of [a, b] pairs (HRANDFIELD WITHVALUES):
	// RESP3 *N of *2 arrays; RESP2 a flat array of 2N. Elems holds a, b,
	// a, b... flat, like a Map (pairs may repeat, so it is not one).
	ReplyPairs
)

// Reply is one command's answer.
type Reply struct {
	Kind  ReplyKind
	Str   []byte  // Status, Error, Bulk
	Int   int64   // Int, Bool (0/1)
	Float float64 // Double
	Elems []Reply // Array, Set; Map holds key, value, key, value...
}

// Common replies. Callers must not modify their slices.
var (
	ReplyOK       = Reply{Kind: ReplyStatus, Str: []byte("OK")}
	ReplyNilValue = Reply{Kind: ReplyNil}
)

// StatusReply returns a simple-string reply.
func StatusReply(s string) Reply { return Reply{Kind: ReplyStatus, Str: []byte(s)} }

// ErrorReply returns an error reply; msg is the whole text after '-', such as
// "ERR value is not an integer or out of range" or "WRONGTYPE ...".
func ErrorReply(msg string) Reply { return Reply{Kind: ReplyError, Str: []byte(msg)} }

// IntReply returns an integer reply.
func IntReply(n int64) Reply { return Reply{Kind: ReplyInt, Int: n} }

// BulkReply returns a bulk-string reply holding b (not copied).
func BulkReply(b []byte) Reply { return Reply{Kind: ReplyBulk, Str: b} }
