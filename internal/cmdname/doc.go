// Package cmdname finds a command by its name, in any ASCII case, without
// a hash map: both the RESP layer (resp's command table) and the state
// machine (kvsm's) look up every command of every pipeline, so the lookup
// is on the hottest path of the server.
//
// # Why not a map
//
// A Go map of lower-case names costs a case fold into a buffer, a string
// hash and a probe: about 35 ns per lookup on the bench machine, twice
// per command (resp, then kvsm), which at -P 16 is a visible slice of a
// GET's CPU. Command names are few (a few hundred), short (at most
// NameBytesMax) and differ early, so a Table spreads them over buckets
// chosen by length and first letter and compares the (usually single)
// candidate byte by byte, folding case as it goes: no hash, no copy, no
// allocation.
//
// Case folding is ASCII only (A-Z to a-z), as Redis's strcasecmp on
// command names; a name with other bytes matches only the identical bytes.
// A Table is built once and read-only afterwards, so concurrent lookups
// need no lock.
package cmdname
