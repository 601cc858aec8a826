package dispatch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/sitrep-ir/sitrep/internal/yamlcheck"
)

// FileName is the rules file of the plans directory.
const FileName = "dispatch.yaml"

// Parse reads the rules in data, read from file. It returns the rules, or
// every problem found in them in the order of the file. It never panics on
// any input. An empty file holds no rules.
func Parse(file string, data []byte) (*Rules, Problems) {
	yd, body := yamlcheck.Open(file, data, yamlcheck.Format{
		What:    "list of rules",
		Limits:  yamlcheck.Limits{MaxSize: MaxFileSize, MaxNodes: maxNodes},
		EmptyOK: true,
		// A key given twice is reported with the others, naming the
		// line of the first.
		DuplicateKeys: true,
	})
	if len(yd.Problems) > 0 {
		return nil, yd.Problems
	}
	sum := sha256.Sum256(data)
	rs := &Rules{File: file, Hash: hex.EncodeToString(sum[:])}
	if body == nil {
		return rs, nil
	}
	d := &decoder{Decoder: yd}
	func() {
		defer d.Recover()
		p := &ruleParser{decoder: d, names: map[string]int{}}
		rs.Rules = p.file(body)
	}()
	if len(d.Problems) > 0 {
		return nil, d.Problems.Sorted()
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
