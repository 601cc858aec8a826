package sqlite

import (
	"testing"
	"testing/fstest"
)

func TestParseMigration(t *testing.T) {
	for _, tc := range []struct {
		name, file, text string
		wantVersion      int64
		wantUp           string // "" when an error is expected
	}{
		{
			name: "up and down", file: "00003_more.sql",
			text:        "-- comment\n-- +goose Up\nCREATE TABLE a (x INTEGER);\n-- +goose Down\nDROP TABLE a;\n",
			wantVersion: 3, wantUp: "CREATE TABLE a (x INTEGER);\n",
		},
		{
			name: "statement markers are dropped", file: "7_trigger.sql",
			text:        "-- +goose Up\n-- +goose StatementBegin\nCREATE TRIGGER t BEGIN SELECT 1; END;\n-- +goose StatementEnd\n",
			wantVersion: 7, wantUp: "CREATE TRIGGER t BEGIN SELECT 1; END;\n",
		},
		{name: "no version", file: "init.sql", text: "-- +goose Up\nSELECT 1;\n"},
		{name: "version zero", file: "0_init.sql", text: "-- +goose Up\nSELECT 1;\n"},
		{name: "no up section", file: "00001_x.sql", text: "CREATE TABLE a (x INTEGER);\n"},
		{name: "empty up section", file: "00001_x.sql", text: "-- +goose Up\n-- +goose Down\nDROP TABLE a;\n"},
		{name: "outside a transaction", file: "00001_x.sql", text: "-- +goose NO TRANSACTION\n-- +goose Up\nVACUUM;\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseMigration(tc.file, tc.text)
			if tc.wantUp == "" {
				if err == nil {
					t.Fatalf("parsed %s without error: %+v", tc.file, m)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if m.version != tc.wantVersion || m.up != tc.wantUp {
				t.Errorf("got version %d, up %q; want %d, %q", m.version, m.up, tc.wantVersion, tc.wantUp)
			}
		})
	}
}

func TestLoadMigrations(t *testing.T) {
	ms, err := loadMigrations(migrations, "migrations")
	if err != nil {
		t.Fatalf("the embedded migrations: %v", err)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].version <= ms[i-1].version {
			t.Errorf("%s comes after %s", ms[i].name, ms[i-1].name)
		}
	}
	dup := fstest.MapFS{
		"m/001_a.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n")},
		"m/1_b.sql":   {Data: []byte("-- +goose Up\nSELECT 2;\n")},
	}
	if _, err := loadMigrations(dup, "m"); err == nil {
		t.Errorf("two migrations of version 1 loaded without error")
	}
}
