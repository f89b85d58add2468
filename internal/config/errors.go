package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a configuration. Parse, Load and Validate return
// all they find, joined with errors.Join; errors.As or the Unwrap() []error
// method of the joined error gives each one.
type Error struct {
	File string // name given to Parse; "" from Validate
	Line int    // line of the offending key; 0 when not known
	// Path is the key path: "http.listen", "ingest[0].protocols[1]",
	// "streams.cam1.format" (a key other than A-Z a-z 0-9 _ - is quoted:
	// `streams["a.b"]`); "" for the file as a whole.
	Path string
	Err  error

	alt string // another key whose line can locate the problem
}

// Error formats as "file:line: path: problem", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// join returns the errors joined, or nil when there are none.
func join(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

// sortByLine orders errors by line, keeping the order of errors on the same
// line; errors without a line go last.
func sortByLine(errs []*Error) {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		if (a.Line == 0) != (b.Line == 0) {
			return cmp.Compare(b.Line, a.Line) // the one with line 0 goes last
		}
		return cmp.Compare(a.Line, b.Line)
	})
}

// keyPath is the path of key under parent.
func keyPath(parent, key string) string {
	if !plainKey(key) {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// indexPath is the path of item i of the list at parent.
func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// plainKey reports whether key can be written in a path without quotes.
func plainKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// parentPath strips the last element of a path; it is only used to look
// for a line, so a quoted key containing "." or "[" may take a few steps.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}
