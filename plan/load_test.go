package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writePlans writes files (name → content) into a new directory.
func writePlans(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadSet(t *testing.T) {
	dir := writePlans(t, map[string]string{
		"malware.yaml":  "title: Malware\nkinds: [malware, virus]\n",
		"outage.yml":    "title: Outage\nkinds: [outage]\nseverity: 1\n",
		"dispatch.yaml": "rules: [this is not a plan and is not read as one]\n",
		".hidden.yaml":  "not: a plan\n",
		"README.md":     "# plans\n",
	})
	if err := os.Mkdir(filepath.Join(dir, "old.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	set, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if set.Len() != 2 || set.Plans[0].Name != "malware" || set.Plans[1].Name != "outage" {
		t.Fatalf("plans = %v; want malware and outage", set.Plans)
	}
	if p := set.ForKind("virus"); p == nil || p.Name != "malware" {
		t.Errorf("ForKind(virus) = %v, want malware", p)
	}
	if set.ForKind("worm") != nil || set.Plan("nope") != nil {
		t.Error("a kind or name no plan has was found")
	}
	if got := strings.Join(set.Kinds(), ","); got != "malware,outage,virus" {
		t.Errorf("Kinds = %s", got)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "outage.yml"))
	sum := sha256.Sum256(data)
	if v := set.Plan("outage").Version; v.SHA256 != hex.EncodeToString(sum[:]) || v.Commit != "" {
		t.Errorf("version %+v: want the file's SHA-256 and no commit", v)
	}
	var nilSet *Set
	if nilSet.ForKind("x") != nil || nilSet.Len() != 0 || nilSet.Plan("x") != nil || nilSet.Kinds() != nil {
		t.Error("a nil set is not empty")
	}
}

func TestLoadMissingDirectoryIsEmpty(t *testing.T) {
	set, err := Load(filepath.Join(t.TempDir(), "plans"))
	if err != nil || set.Len() != 0 {
		t.Fatalf("Load of a missing directory = %v, %v; want an empty set", set, err)
	}
}

func TestLoadReportsEveryProblemOfEveryFile(t *testing.T) {
	dir := writePlans(t, map[string]string{
		"a.yaml": "title: A\nkinds: [malware]\nseverity: 9\n",
		"b.yaml": "title: B\nkinds:\n  - worm\n  - malware\n",
		"c.yaml": "title: C\nkinds: [worm]\nrole: {}\n",
		"d.yaml": "title: D\nkinds: [ok]\n",
	})
	_, err := Load(dir)
	ps := AsProblems(err)
	var got []string
	for _, p := range ps {
		got = append(got, strings.TrimPrefix(p.String(), dir+string(filepath.Separator)))
	}
	want := []string{
		"a.yaml:3:11: severity 9 is out of range: 1 to 4",
		"b.yaml:4:5: kind malware is answered by two plans: this one and a",
		`c.yaml:3:1: unknown field "role" in the plan; did you mean roles?`,
		"c.yaml:2:9: kind worm is answered by two plans: this one and b",
	}
	// Sorted by file, line, column.
	want[2], want[3] = want[3], want[2]
	if len(got) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i, got[i], want[i])
		}
	}
	// A plan with problems of its own still claims its kinds: the
	// problem of a kind answered twice names the other file.
	if !strings.Contains(got[1], filepath.Join(dir, "a.yaml")) {
		t.Errorf("problem %q does not name a.yaml", got[1])
	}
	if err.Error() != ps.Error() || strings.Count(err.Error(), "\n") != 3 {
		t.Errorf("the error lists the problems one per line:\n%v", err)
	}
}

func TestLoadDuplicateKindNamesBothFiles(t *testing.T) {
	dir := writePlans(t, map[string]string{
		"breach.yaml": "title: Breach\nkinds: [data-breach]\n",
		"pii.yaml":    "title: PII\nkinds: [pii, data-breach]\n",
	})
	_, err := Load(dir)
	ps := AsProblems(err)
	if len(ps) != 1 {
		t.Fatalf("problems = %v", err)
	}
	p := ps[0]
	if p.File != filepath.Join(dir, "pii.yaml") || p.Line != 2 || p.Column != 14 ||
		!strings.Contains(p.Message, filepath.Join(dir, "breach.yaml")) || !strings.Contains(p.Message, "data-breach") {
		t.Errorf("problem = %s; want it at pii.yaml:2:14 naming breach.yaml", p)
	}
}

func TestLoadSameNameTwice(t *testing.T) {
	dir := writePlans(t, map[string]string{
		"outage.yaml": "title: A\nkinds: [a]\n",
		"outage.yml":  "title: B\nkinds: [b]\n",
	})
	_, err := Load(dir)
	if ps := AsProblems(err); len(ps) != 1 || !strings.Contains(ps[0].Message, "plan outage is also defined by") {
		t.Errorf("problems = %v", err)
	}
}

func TestLoadUnreadable(t *testing.T) {
	dir := writePlans(t, map[string]string{"a.yaml": "title: A\nkinds: [a]\n"})
	file := filepath.Join(dir, "not-a-dir")
	writeFile(t, file, "x")
	if _, err := Load(file); AsProblems(err) == nil {
		t.Errorf("Load of a file = %v; want a problem", err)
	}
	big := filepath.Join(dir, "big.yaml")
	writeFile(t, big, strings.Repeat("#", MaxFileSize+1))
	_, err := Load(dir)
	if ps := AsProblems(err); len(ps) != 1 || ps[0].File != big || !strings.Contains(ps[0].Message, "larger than the limit") {
		t.Errorf("problems = %v", err)
	}
}

// gitRepo makes dir a git checkout with its files committed; it skips the
// test when git is not installed.
func gitRepo(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-q")
	run("add", ".")
	run("commit", "-q", "-m", "plans")
}

func gitHead(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func TestVersionFromGit(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "ops", "plans")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "malware.yaml"), "title: Malware\nkinds: [malware]\n")
	writeFile(t, filepath.Join(dir, "outage.yaml"), "title: Outage\nkinds: [outage]\n")
	gitRepo(t, root)
	head := gitHead(t, root)
	writeFile(t, filepath.Join(dir, "outage.yaml"), "title: Outage\nkinds: [outage]\nseverity: 1\n")
	writeFile(t, filepath.Join(dir, "worm.yaml"), "title: Worm\nkinds: [worm]\n")

	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if set.Commit != head {
		t.Errorf("set commit = %q, want %q", set.Commit, head)
	}
	for name, modified := range map[string]bool{"malware": false, "outage": true, "worm": true} {
		v := set.Plan(name).Version
		if v.Commit != head || v.Modified != modified {
			t.Errorf("%s: version %+v; want commit %s, modified %v", name, v, head, modified)
		}
	}
	out, err := exec.Command("git", "-C", dir, "hash-object", "malware.yaml").Output()
	data, _ := os.ReadFile(filepath.Join(dir, "malware.yaml"))
	if err != nil || strings.TrimSpace(string(out)) != gitBlobHash(data, 40) {
		t.Errorf("git hash-object = %s (%v), ours %s", out, err, gitBlobHash(data, 40))
	}
	if s := set.Plan("outage").Version.String(); !strings.HasPrefix(s, "sha256:") || !strings.HasSuffix(s, "(git "+head[:12]+", modified)") {
		t.Errorf("version string %q", s)
	}
}

func TestVersionWithoutGit(t *testing.T) {
	dir := writePlans(t, map[string]string{"a.yaml": "title: A\nkinds: [a]\n"})
	t.Setenv("PATH", t.TempDir()) // no git on the path
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v := set.Plan("a").Version; v.Commit != "" || v.Modified || v.SHA256 == "" || v.String() != "sha256:"+v.SHA256[:12] {
		t.Errorf("version without git = %+v (%s)", v, v)
	}
}
