package resp

import (
	"net"
	"strconv"

	"github.com/tidwall/redcon"
)

// cmdRole answers ROLE in Redis's shape, mapping Raft roles onto Redis's
// replication roles as INFO replication does:
//
//   - the leader is a master: ["master", offset, [[ip, port, offset]...]]
//     where its offset is the applied index and each follower's is its
//     match index (the log prefix it is known to hold);
//   - every other member (follower, learner, candidate) is a replica:
//     ["slave", leader host, leader port, state, offset] with the applied
//     index as offset; state is "connected" while a leader is known and
//     "connect" (Redis: trying to reach its master) when none is, with
//     host "?" and port -1 as there is nobody to name.
func (c *client) cmdRole(args [][]byte) {
	st := c.srv.backend.Status()
	if st.IsLeader() {
		c.out = redcon.AppendArray(c.out, 3)
		c.out = redcon.AppendBulkString(c.out, "master")
		c.out = redcon.AppendUint(c.out, st.AppliedIndex)
		c.out = redcon.AppendArray(c.out, len(st.Peers))
		for _, p := range st.Peers {
			host, port := splitHostPort(p.ClientAddr)
			c.out = redcon.AppendArray(c.out, 3)
			c.out = redcon.AppendBulkString(c.out, host)
			c.out = redcon.AppendBulkString(c.out, strconv.Itoa(port))
			c.out = redcon.AppendBulk(c.out, strconv.AppendUint(nil, p.MatchIndex, 10))
		}
		return
	}
	// Redis answers offset -1 while a replica has no link to its master;
	// a node with no leader (an election, or a removed node) is that case.
	host, port, state, offset := "?", -1, "connect", int64(-1)
	if st.LeaderID != 0 && st.LeaderClientAddr != "" && st.Role != RoleRemoved {
		host, port = splitHostPort(st.LeaderClientAddr)
		state, offset = "connected", int64(st.AppliedIndex)
	}
	c.out = redcon.AppendArray(c.out, 5)
	c.out = redcon.AppendBulkString(c.out, "slave")
	c.out = redcon.AppendBulkString(c.out, host)
	c.out = redcon.AppendInt(c.out, int64(port))
	c.out = redcon.AppendBulkString(c.out, state)
	c.out = redcon.AppendInt(c.out, offset)
}

// splitHostPort splits a host:port client address; an address that does
// not split is returned whole with port 0.
func splitHostPort(addr string) (string, int) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return host, 0
	}
	return host, port
}
