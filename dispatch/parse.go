package dispatch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// FileName is the rules file of the plans directory.
const FileName = "dispatch.yaml"

// Parse reads the rules in data, read from file. It returns the rules, or
// every problem found in them in the order of the file. It never panics on
// any input. An empty file holds no rules.
func Parse(file string, data []byte) (rs *Rules, problems Problems) {
	d := &decoder{file: file, anchors: map[string][]anchorDef{}}
	defer func() {
		// The YAML parser is third-party code: a crash on some input is
		// a problem of that file, not of the server.
		if r := recover(); r != nil {
			rs, problems = nil, Problems{{File: file, Message: fmt.Sprintf("the YAML parser failed on this file (%v): simplify it", r)}}
		}
	}()
	if len(data) > MaxFileSize {
		d.problemAt(0, 0, "the file is %d bytes long; the limit is %d", len(data), MaxFileSize)
		return nil, d.problems
	}
	sum := sha256.Sum256(data)
	rs = &Rules{File: file, Hash: hex.EncodeToString(sum[:])}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		line, col := lineCol(data, firstInvalidUTF8(data))
		d.problemAt(line, col, "the file is not valid UTF-8 here")
		return nil, d.problems
	}
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey()) // reported with the others
	if err != nil {
		if ye, ok := err.(yaml.Error); ok && ye.GetToken() != nil {
			line, col := tokenPos(ye.GetToken())
			d.problemAt(line, col, "YAML: %s", oneLine(ye.GetMessage()))
		} else {
			d.problemAt(1, 1, "YAML: %s", oneLine(err.Error()))
		}
		return nil, d.problems
	}
	var body node
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			d.problem(doc.Body, "a second YAML document starts here: the file holds one list of rules")
			break
		}
		body = doc.Body
		d.collectAnchors(doc)
	}
	if body == nil || isNull(body) {
		return rs, nil
	}
	p := &ruleParser{decoder: d, names: map[string]int{}}
	rs.Rules = p.file(body)
	if len(d.problems) > 0 {
		return nil, d.problems.sort()
	}
	return rs, nil
}

// Load reads the rules file at path. A missing file holds no rules. The
// error is Problems when the file cannot be read or has problems.
func Load(path string) (*Rules, error) {
	data, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Rules{File: path}, nil
	}
	if err != nil {
		return nil, Problems{{File: path, Message: err.Error()}}
	}
	rs, problems := Parse(path, data)
	if len(problems) > 0 {
		return nil, problems
	}
	return rs, nil
}

// readFile reads at most MaxFileSize+1 bytes of path: enough to tell that
// a file is too large without reading all of it.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a rules file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// lineCol returns the 1-based line and column of byte offset off.
func lineCol(data []byte, off int) (line, col int) {
	line = 1 + bytes.Count(data[:off], []byte("\n"))
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return line, 1 + utf8.RuneCount(data[start:off])
}

func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// oneLine keeps a message on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
