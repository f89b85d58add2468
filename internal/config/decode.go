package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The file is parsed into a yaml.Node tree, which the decoder walks itself
// instead of calling Node.Decode: that way every error carries the key path
// and the line of its key, unknown and duplicate keys are refused (yaml.v3
// checks neither when it builds a Node tree, and Node.Decode has no
// known-fields mode), bare integers are refused as durations, and every
// problem is collected instead of only the first.

const (
	// maxValues bounds the values visited. Aliases let a short file name
	// the same mapping many times, and merge keys can nest that.
	maxValues = 100_000
	// maxMergeDepth bounds merge keys ("<<") within merged mappings; an
	// anchor can even merge itself.
	maxMergeDepth = 16
)

type decoder struct {
	file   string
	lines  map[string]int  // line of every key (and list item) present, by path
	failed map[string]bool // paths of values that did not decode
	errs   []*Error
	budget int // values left to visit
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: make(map[string]int), failed: make(map[string]bool), budget: maxValues}
}

// parseDocument parses data into its one YAML document; nil means an empty
// file.
func parseDocument(data []byte, file string) (*yaml.Node, error) {
	// yaml.v3 reads UTF-16 too, but then its lines are not the lines of
	// data that the errors point at.
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return nil, &Error{File: file, Err: errors.New("the file is UTF-16: save it as UTF-8")}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(file, data, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
		return &doc, nil
	case err != nil:
		return nil, syntaxError(file, data, err)
	default: // next.Line is the line of its "---"
		return nil, &Error{File: file, Line: min(next.Line, lineAt(data, len(data))),
			Err: errors.New("a second YAML document; a config file holds one (remove the \"---\")")}
	}
}

func (d *decoder) failf(line int, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Path: path, Err: fmt.Errorf(format, args...)})
}

// badf reports a value that did not decode; Validate's errors about it are
// then left out.
func (d *decoder) badf(line int, path, format string, args ...any) {
	d.failed[path] = true
	d.failf(line, path, format, args...)
}

// locate sets the file and line of an error found by Validate: the line of
// its key, of its alternative key, or of the nearest parent in the file. It
// reports false for an error under a value that did not decode, which says
// nothing new.
func (d *decoder) locate(e *Error) bool {
	e.File = d.file
	for p := e.Path; p != ""; p = parentPath(p) {
		if d.failed[p] {
			return false
		}
	}
	for _, p := range []string{e.Path, e.alt} {
		if line, ok := d.lines[p]; ok && p != "" {
			e.Line = line
			return true
		}
	}
	for p := parentPath(e.Path); p != ""; p = parentPath(p) {
		if line, ok := d.lines[p]; ok {
			e.Line = line
			return true
		}
	}
	return true
}

func (d *decoder) document(doc *yaml.Node, c *Config) {
	if doc == nil || len(doc.Content) == 0 {
		return
	}
	root := doc.Content[0]
	d.value(root, reflect.ValueOf(c).Elem(), "", root.Line)
}

// resolve follows an alias to the node it names; nil once the budget is
// spent.
func (d *decoder) resolve(n *yaml.Node, path string, line int) *yaml.Node {
	if d.budget <= 0 {
		return nil
	}
	if d.budget--; d.budget == 0 {
		d.failf(line, path, "more than %d values, counting every use of an alias: simplify the file", maxValues)
		return nil
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// value decodes n into v. line is the line of n's key, which errors carry.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, line int) {
	if n = d.resolve(n, path, line); n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		switch v.Kind() {
		case reflect.Struct: // an empty section changes nothing
		case reflect.Map:
			v.Set(reflect.MakeMap(v.Type()))
		case reflect.Slice:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			v.SetZero()
		}
		return
	}
	if u, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
		if err := u.UnmarshalYAML(n); err != nil {
			d.badf(line, path, "%w", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.fields(n, v, path, line)
	case reflect.Map:
		d.entries(n, v, path, line)
	case reflect.Slice:
		d.items(n, v, path, line)
	default:
		d.scalar(n, v, path, line)
	}
}

// fields decodes a mapping into a struct by the fields' yaml tags.
func (d *decoder) fields(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		d.badf(line, path, "expected a mapping of keys, got %s", describe(n))
		return
	}
	t := v.Type()
	for _, p := range d.pairs(n, path, 0) {
		kp := keyPath(path, p.key)
		i := fieldIndex(t, p.key)
		if i < 0 {
			d.failf(p.line, kp, "unknown key (known: %s)", strings.Join(knownKeys(t), ", "))
			continue
		}
		d.lines[kp] = p.line
		d.value(p.val, v.Field(i), kp, p.line)
	}
}

// entries decodes a mapping into a new map with string keys.
func (d *decoder) entries(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		d.badf(line, path, "expected a mapping of names, got %s", describe(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, p := range d.pairs(n, path, 0) {
		kp := keyPath(path, p.key)
		d.lines[kp] = p.line
		e := reflect.New(v.Type().Elem()).Elem()
		d.value(p.val, e, kp, p.line)
		m.SetMapIndex(reflect.ValueOf(p.key).Convert(v.Type().Key()), e)
	}
	v.Set(m)
}

// items decodes a sequence into a new slice.
func (d *decoder) items(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.SequenceNode {
		d.badf(line, path, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := indexPath(path, i)
		d.lines[ip] = item.Line
		d.value(item, s.Index(i), ip, item.Line)
	}
	v.Set(s)
}

// scalar decodes a string, bool or integer.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string, line int) {
	switch v.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.badf(line, path, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || err != nil {
			d.badf(line, path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.badf(line, path, "expected a whole number, got %s", describe(n))
			return
		}
		v.SetInt(i)
	default:
		panic("config: no decoding for field type " + v.Type().String())
	}
}

// pair is one key of a mapping and its value.
type pair struct {
	key  string
	line int
	val  *yaml.Node
}

// pairs lists the keys of a mapping, with those of merge keys ("<<: *base")
// first, except where the mapping sets them itself. A key set twice is an
// error.
func (d *decoder) pairs(n *yaml.Node, path string, depth int) []pair {
	var own, merged []pair
	seen := make(map[string]int) // key → line
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.resolve(n.Content[i], path, n.Content[i].Line)
		if k == nil {
			return nil
		}
		val := n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			merged = append(merged, d.merge(val, path, k.Line, depth)...)
		case k.Kind != yaml.ScalarNode:
			d.failf(k.Line, path, "a key must be a name, got %s", describe(k))
		case seen[k.Value] != 0:
			d.failf(k.Line, keyPath(path, k.Value), "set twice (first at line %d); remove one", seen[k.Value])
		default:
			seen[k.Value] = max(k.Line, 1)
			own = append(own, pair{k.Value, k.Line, val})
		}
	}
	if len(merged) == 0 {
		return own
	}
	all := make([]pair, 0, len(merged)+len(own))
	for _, p := range merged {
		if seen[p.key] == 0 { // the first merged mapping that sets a key wins
			seen[p.key] = max(p.line, 1)
			all = append(all, p)
		}
	}
	return append(all, own...)
}

// merge lists the keys of the value of a merge key: a mapping or a list of
// mappings.
func (d *decoder) merge(n *yaml.Node, path string, line, depth int) []pair {
	if depth >= maxMergeDepth {
		d.failf(line, path, "merge keys (<<) nested more than %d deep", maxMergeDepth)
		return nil
	}
	if n = d.resolve(n, path, line); n == nil {
		return nil
	}
	var maps []*yaml.Node
	switch n.Kind {
	case yaml.MappingNode:
		maps = []*yaml.Node{n}
	case yaml.SequenceNode:
		maps = n.Content
	default:
		d.failf(line, path, "<<: expected a mapping or a list of mappings, got %s", describe(n))
		return nil
	}
	var out []pair
	for _, m := range maps {
		if m = d.resolve(m, path, line); m == nil {
			return nil
		}
		if m.Kind != yaml.MappingNode {
			d.failf(line, path, "<<: expected a mapping or a list of mappings, got %s", describe(m))
			continue
		}
		out = append(out, d.pairs(m, path, depth+1)...)
	}
	return out
}

// fieldIndex returns the index of the field of struct type t whose yaml
// name is key, or -1.
func fieldIndex(t reflect.Type, key string) int {
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == key {
			return i
		}
	}
	return -1
}

func knownKeys(t reflect.Type) []string {
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i] = yamlName(t.Field(i))
	}
	return keys
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// describe names a node in an error: "a list", "a mapping" or its value.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		v := n.Value
		if len(v) > 40 {
			return strconv.Quote(v[:40]) + "..."
		}
		return strconv.Quote(v)
	}
	return "an alias"
}
