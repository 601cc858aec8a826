package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestKillDuringIntake: a server killed (SIGKILL, no shutdown) while alerts
// pour in keeps every alert it acknowledged. Several senders post batches
// of new alerts and note each one answered 2xx; the server is killed in the
// middle, restarted on the same store, and every acknowledged alert must be
// there. Alerts sent but never answered may or may not be: the test counts
// them.
func TestKillDuringIntake(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		testKillDuringIntake(t, "sqlite:"+filepath.Join(t.TempDir(), "sitrep.db"))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		testKillDuringIntake(t, postgresDB(t))
	})
}

func testKillDuringIntake(t *testing.T, db string) {
	token := "sitrep_kill_" + randomHex(16)
	env := []string{"SITREP_BOOTSTRAP_TOKEN=" + token}
	s := startServer(t, env, "--db", db)
	var src struct {
		Key string `json:"key"`
	}
	jsonOf(t, sitrep(t, s.URL, token, "source", "add", "edr", "--kind", "generic", "-o", "json"), &src)
	intake := s.URL + "/intake/generic/" + src.Key

	const (
		senders = 8
		batch   = 10
		// killAt acknowledged alerts, the server is killed; no sender
		// sends more than its share of maxSent, so that one listing of
		// the alerts (at most 5000) holds them all.
		killAt  = 1000
		maxSent = 4800
	)
	var (
		acked   sync.Map // dedup key → true, for every alert answered 2xx
		unacked sync.Map // dedup key → true, for every alert sent without a 2xx
		nAcked  atomic.Int64
		killed  = make(chan struct{})
		wg      sync.WaitGroup
	)
	hc := &http.Client{Timeout: 20 * time.Second}
	for w := range senders {
		wg.Go(func() {
			for n := 0; n < maxSent/senders/batch; n++ {
				var body bytes.Buffer
				keys := make([]string, batch)
				body.WriteByte('[')
				for i := range keys {
					keys[i] = fmt.Sprintf("kill-%d-%d-%d", w, n, i)
					if i > 0 {
						body.WriteByte(',')
					}
					fmt.Fprintf(&body, `{"summary":"Ransomware note on FIN-%d","severity":"critical","dedup_key":%q}`, i, keys[i])
				}
				body.WriteByte(']')
				resp, err := hc.Post(intake, "application/json", &body)
				ok := false
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok = resp.StatusCode/100 == 2
				}
				for _, k := range keys {
					if ok {
						acked.Store(k, true)
					} else {
						unacked.Store(k, true)
					}
				}
				if ok {
					nAcked.Add(batch)
					continue
				}
				select {
				case <-killed:
					return // the server is gone: this sender is done
				default:
				}
			}
		})
	}
	// Kill once enough alerts are acknowledged, with every sender still
	// sending.
	deadline := time.Now().Add(30 * time.Second)
	for nAcked.Load() < killAt && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if nAcked.Load() < killAt {
		t.Fatalf("only %d alerts acknowledged in 30 s; output:\n%s", nAcked.Load(), s.output())
	}
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill the server: %v", err)
	}
	close(killed)
	s.cmd.Wait()
	wg.Wait()

	s2 := startServer(t, env, "--db", db)
	stored := storedKeys(t, s2.URL, token)
	var lost []string
	total := 0
	acked.Range(func(k, _ any) bool {
		total++
		if !stored[k.(string)] {
			lost = append(lost, k.(string))
		}
		return true
	})
	if len(lost) > 0 {
		t.Errorf("%d of %d acknowledged alerts are missing after the kill, such as %s", len(lost), total, strings.Join(lost[:min(5, len(lost))], ", "))
	}
	unknown, kept := 0, 0
	unacked.Range(func(k, _ any) bool {
		unknown++
		if stored[k.(string)] {
			kept++
		}
		return true
	})
	if len(stored) > total+unknown {
		t.Errorf("%d alerts stored, more than the %d sent", len(stored), total+unknown)
	}
	t.Logf("%d alerts acknowledged before the kill, all stored; of %d sent without an answer, %d were stored", total, unknown, kept)
}

// storedKeys returns the dedup keys of the alerts the server holds.
func storedKeys(t *testing.T, server, token string) map[string]bool {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, server+"/api/v1/alerts?"+url.Values{"limit": {"5000"}}.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("list alerts: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Alerts []struct {
			DedupKey string `json:"dedup_key"`
			Count    int64  `json:"count"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list alerts: %s, %v", resp.Status, err)
	}
	keys := map[string]bool{}
	for _, a := range out.Alerts {
		if keys[a.DedupKey] || a.Count != 1 {
			t.Errorf("alert %s stored twice (count %d)", a.DedupKey, a.Count)
		}
		keys[a.DedupKey] = true
	}
	return keys
}
