package consensus

// Majority arithmetic, kept apart from the rules that use it so that it can
// be checked exhaustively on its own (quorum_test.go).

// majority is the number of voters that form a quorum among n voters.
func majority(n int) int { return n/2 + 1 }

// committedIndex returns the largest index that a majority of voters have
// reached, given each voter's match index. It sorts matches in place
// (insertion sort: clusters are small, and it does not allocate). With no
// voters it returns 0: nothing can commit.
func committedIndex(matches []uint64) uint64 {
	n := len(matches)
	if n == 0 {
		return 0
	}
	for i := 1; i < n; i++ {
		for j := i; j > 0 && matches[j-1] > matches[j]; j-- {
			matches[j-1], matches[j] = matches[j], matches[j-1]
		}
	}
	// Ascending: the voters at positions n-majority .. n-1 all reached
	// matches[n-majority], and they are a majority.
	return matches[n-majority(n)]
}

// voteResult is the outcome of an election so far.
type voteResult uint8

const (
	votePending voteResult = iota
	voteWon
	voteLost
)

// tallyVotes decides an election among n voters given the granted and
// rejected counts: won once a majority granted, lost once a majority can no
// longer be reached.
func tallyVotes(n, granted, rejected int) voteResult {
	q := majority(n)
	switch {
	case granted >= q:
		return voteWon
	case n-rejected < q:
		return voteLost
	}
	return votePending
}
