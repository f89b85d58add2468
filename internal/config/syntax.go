package config

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// yaml.v3 reports syntax errors as text ("yaml: line 3: could not find
// expected ':'") whose line is not always right: its parser's errors give
// the line counted from 0, its scanner's from 1, both leave the line out
// when it is the first, and errors of its reader (bad UTF-8, control
// characters) and unknown anchors have none. syntaxError repairs what it
// can so that the error points at the line.

// parserProblems are the messages of yaml.v3's parser (parserc.go); the
// line it prints with them is counted from 0.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// syntaxError turns a yaml.v3 parse error into an *Error with its line.
func syntaxError(file string, data []byte, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, text
			}
		}
	}
	switch {
	case slices.Contains(parserProblems, msg):
		line++
	case strings.HasPrefix(msg, "unknown anchor '"):
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		line = lineAt(data, bytes.Index(data, []byte("*"+name)))
	case strings.HasPrefix(msg, "invalid ") || strings.HasPrefix(msg, "incomplete ") ||
		strings.HasPrefix(msg, "control characters"):
		line = lineAt(data, badChar(data))
	case line == 0 && scannerProblem(msg):
		line = 1
	}
	// At the end of the file yaml.v3 counts lines past the last one.
	last := lineAt(data, len(bytes.TrimRight(data, "\r\n")))
	return &Error{File: file, Line: min(line, last), Err: fmt.Errorf("invalid YAML: %s", msg)}
}

func scannerProblem(msg string) bool {
	for _, p := range []string{"found ", "did not find ", "could not find ", "mapping ", "block ", "exceeded "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// lineAt returns the line of byte offset i of data, or 0 for i < 0. Lines
// end as YAML ends them: "\n", "\r\n", "\r", U+0085, U+2028 or U+2029.
func lineAt(data []byte, i int) int {
	if i < 0 {
		return 0
	}
	line := 1
	for j := 0; j < i; j++ {
		switch c := data[j]; {
		case c == '\n':
			line++
		case c == '\r' && (j+1 >= len(data) || data[j+1] != '\n'):
			line++
		case c == 0xc2 && j+1 < len(data) && data[j+1] == 0x85,
			c == 0xe2 && j+2 < len(data) && data[j+1] == 0x80 && (data[j+2] == 0xa8 || data[j+2] == 0xa9):
			line++
		}
	}
	return line
}

// badChar returns the offset of the first byte that is not UTF-8 or is a
// character YAML does not allow, or -1.
func badChar(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		ok := r == '\t' || r == '\n' || r == '\r' || r == 0x85 ||
			0x20 <= r && r <= 0x7e || 0xa0 <= r && r <= 0xd7ff ||
			0xe000 <= r && r <= 0xfffd && !(r == utf8.RuneError && n == 1) ||
			0x10000 <= r && r <= 0x10ffff
		if !ok {
			return i
		}
		i += n
	}
	return -1
}
