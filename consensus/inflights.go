package consensus

// inflight is one MsgApp sent and not yet acknowledged: the last index it
// carried and its entry bytes.
type inflight struct {
	index uint64
	bytes uint64
}

// inflights is the per-follower window of MsgApps in flight, bounded both by
// count and by bytes (flow control). It is a ring buffer allocated once at
// its full size so that the hot path (add/freeLE) never allocates.
type inflights struct {
	buf      []inflight
	start    int // position of the oldest in buf
	count    int
	bytes    uint64
	maxBytes uint64 // 0: no byte bound
}

func newInflights(maxCount int, maxBytes uint64) *inflights {
	if maxCount < 1 {
		maxCount = 1
	}
	return &inflights{buf: make([]inflight, maxCount), maxBytes: maxBytes}
}

// full reports whether no more MsgApp may go: the count bound is reached, or
// the byte bound is (one message may overshoot it, so that an entry larger
// than the bound still goes when the window is empty).
func (in *inflights) full() bool {
	return in.count == len(in.buf) || (in.maxBytes != 0 && in.bytes >= in.maxBytes)
}

// add records a MsgApp whose last entry is index. Indexes must increase; a
// full window ignores the call (callers check full first).
func (in *inflights) add(index, bytes uint64) {
	if in.count == len(in.buf) {
		return
	}
	pos := in.start + in.count
	if pos >= len(in.buf) {
		pos -= len(in.buf)
	}
	in.buf[pos] = inflight{index: index, bytes: bytes}
	in.count++
	in.bytes += bytes
}

// freeLE frees every MsgApp whose last index is at most index: the follower
// acknowledged them.
func (in *inflights) freeLE(index uint64) {
	for in.count > 0 {
		head := in.buf[in.start]
		if head.index > index {
			return
		}
		in.bytes -= head.bytes
		in.count--
		in.start++
		if in.start == len(in.buf) {
			in.start = 0
		}
	}
	in.start = 0
}

// reset empties the window.
func (in *inflights) reset() {
	in.start, in.count, in.bytes = 0, 0, 0
}
