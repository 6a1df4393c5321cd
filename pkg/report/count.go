package report

import "fmt"

// Count reads n things in a message: Count(0, "artifact", "artifacts")
// is "no artifacts", Count(1, ...) "1 artifact", Count(3, ...)
// "3 artifacts". Every count in the report's messages is written with it.
func Count(n int, one, many string) string {
	switch n {
	case 0:
		return "no " + many
	case 1:
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
