package plan

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DispatchFile is the file of the plans directory that holds dispatch rules,
// not a plan: Load skips it (as dispatch.yml too).
const DispatchFile = "dispatch.yaml"

// Set is the plans of one directory, each kind answered by at most one.
// A nil *Set is an empty set.
type Set struct {
	// Dir is the directory the plans were read from.
	Dir string `json:"dir"`
	// Plans are the plans, ordered by name.
	Plans []*Plan `json:"plans"`
	// Commit is the git commit of the directory's checkout, "" when it is
	// not one.
	Commit string `json:"commit,omitempty"`
	byKind map[string]*Plan
	byName map[string]*Plan
}

// ForKind returns the plan answering incidents of kind, or nil.
func (s *Set) ForKind(kind string) *Plan {
	if s == nil {
		return nil
	}
	return s.byKind[kind]
}

// Plan returns the plan named name, or nil.
func (s *Set) Plan(name string) *Plan {
	if s == nil {
		return nil
	}
	return s.byName[name]
}

// Len is the number of plans.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.Plans)
}

// Kinds lists the kinds the set answers, sorted.
func (s *Set) Kinds() []string {
	if s == nil {
		return nil
	}
	var out []string
	for k := range s.byKind {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// isPlanFile reports whether a directory entry is a plan file: a regular
// .yaml or .yml file that is neither hidden nor the dispatch rules.
func isPlanFile(name string) bool {
	if strings.HasPrefix(name, ".") || name == DispatchFile || name == "dispatch.yml" {
		return false
	}
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// Load reads every plan of dir (its .yaml and .yml files, not those of
// subdirectories, not dispatch.yaml) and checks them, alone and together:
// two plans answering one kind is a problem naming both files. It returns
// the set, or an error that is Problems listing every problem of every
// file (see AsProblems); a directory that does not exist is an empty set,
// as on a first start with no plans.
func Load(dir string) (*Set, error) {
	return LoadContext(context.Background(), dir)
}

// LoadContext is Load with a context for the git commands it runs.
func LoadContext(ctx context.Context, dir string) (*Set, error) {
	set := &Set{Dir: dir, byKind: map[string]*Plan{}, byName: map[string]*Plan{}}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return set, nil
	}
	if err != nil {
		return nil, Problems{{File: dir, Message: fmt.Sprintf("cannot read the plans directory: %v", unwrapPath(err))}}
	}
	var problems Problems
	var names []string
	for _, e := range entries {
		if isPlanFile(e.Name()) && !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) > MaxPlans {
		return nil, Problems{{File: dir, Message: fmt.Sprintf("the directory holds %d plan files; the limit is %d", len(names), MaxPlans)}}
	}
	contents := map[string][]byte{}
	var all []*Plan // every plan read, with problems or not
	broken := map[*Plan]bool{}
	for _, name := range names {
		file := filepath.Join(dir, name)
		data, err := readLimited(file)
		if err != nil {
			problems = append(problems, Problem{File: file, Message: err.Error()})
			continue
		}
		contents[name] = data
		p, ps := parse(file, data)
		problems = append(problems, ps...)
		if p == nil {
			continue
		}
		broken[p] = ps != nil
		sum := sha256.Sum256(data)
		p.Version.SHA256 = hex.EncodeToString(sum[:])
		if prev := set.byName[p.Name]; prev != nil {
			problems = append(problems, Problem{File: file, Message: fmt.Sprintf("plan %s is also defined by %s: keep one of the two files", p.Name, prev.File)})
			continue
		}
		set.byName[p.Name] = p
		all = append(all, p)
	}
	// Two plans answering one kind would leave the choice to chance: the
	// later file in name order is the one reported, naming the other.
	for _, p := range all {
		for _, k := range p.Kinds {
			if other := set.byKind[k]; other != nil {
				at := p.kindAt[k]
				problems = append(problems, Problem{File: p.File, Line: at[0], Column: at[1], Message: fmt.Sprintf("kind %s is answered by two plans: this one and %s (%s); a kind has one plan", k, other.Name, other.File)})
				continue
			}
			set.byKind[k] = p
		}
		if !broken[p] {
			set.Plans = append(set.Plans, p)
		}
	}
	if len(problems) > 0 {
		return nil, problems.Sorted()
	}
	slices.SortFunc(set.Plans, func(a, b *Plan) int { return strings.Compare(a.Name, b.Name) })
	if len(set.Plans) > 0 {
		commit, blobs := gitTree(ctx, dir)
		set.Commit = commit
		for _, p := range set.Plans {
			if commit == "" {
				continue
			}
			p.Version.Commit = commit
			blob, ok := blobs[filepath.Base(p.File)]
			p.Version.Modified = !ok || blob != gitBlobHash(contents[filepath.Base(p.File)], len(blob))
		}
	}
	return set, nil
}

// readLimited reads a plan file of at most MaxFileSize bytes.
func readLimited(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %v", unwrapPath(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %v", unwrapPath(err))
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("the file is larger than the limit of %d bytes", MaxFileSize)
	}
	return data, nil
}

// unwrapPath drops the path from a *fs.PathError: problems name the file
// already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// gitTree returns the HEAD commit of the git checkout holding dir and the
// blob hash of each file committed directly in dir. Without git, or outside
// a checkout, it returns "" and nil: a plans directory need not be one.
func gitTree(ctx context.Context, dir string) (string, map[string]string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := git(ctx, dir, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
	if err != nil {
		return "", nil
	}
	commit := strings.TrimSpace(string(out))
	if !isHex(commit) {
		return "", nil
	}
	out, err = git(ctx, dir, "ls-tree", "-z", commit)
	if err != nil {
		return "", nil
	}
	blobs := map[string]string{}
	for _, rec := range strings.Split(string(out), "\x00") {
		// <mode> SP <type> SP <object> TAB <file>
		meta, name, ok := strings.Cut(rec, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta)
		if len(f) == 3 && f[1] == "blob" {
			blobs[name] = f[2]
		}
	}
	return commit, blobs
}

// git runs git in dir with a clean, predictable environment: no pager, no
// prompts, no optional locks on the user's checkout.
func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir, "--no-optional-locks"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_PAGER=cat", "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// gitBlobHash is the object name git gives content: SHA-1, or SHA-256 in a
// repository using it (told by the length of its names, hexLen).
func gitBlobHash(content []byte, hexLen int) string {
	header := "blob " + strconv.Itoa(len(content)) + "\x00"
	if hexLen == 64 {
		h := sha256.New()
		h.Write([]byte(header))
		h.Write(content)
		return hex.EncodeToString(h.Sum(nil))
	}
	h := sha1.New()
	h.Write([]byte(header))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

func isHex(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
