package kvsm

// Command is one client command as it travels through the log: the database
// it addresses (SELECT) and its arguments, the command name first (any case).
type Command struct {
	DB   int
	Args [][]byte
}
