package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// qReleaseStranded puts an alert declared without an incident since a time
// back on the desk.
const qReleaseStranded = `UPDATE alerts SET triage = 'pending' WHERE id = ? AND triage = 'declared'
	AND incident_id IS NULL AND (triaged_at IS NULL OR triaged_at < ?)`

func init() { writeQueries = append(writeQueries, qReleaseStranded) }

// StrandedAlerts lists the alerts declared without an incident whose
// triage last changed before before (see migration 00007: the database
// stamps each change), oldest first.
func (s *Store) StrandedAlerts(ctx context.Context, before time.Time, limit int) ([]*sitrep.Alert, error) {
	limit = min(max(limit, 1), maxAlertsLimit)
	return s.listAlerts(ctx, "list stranded alerts", selectAlerts+` WHERE triage = 'declared' AND incident_id IS NULL
		AND (triaged_at IS NULL OR triaged_at < ?) ORDER BY id LIMIT ?`, before.UnixMicro(), limit)
}

// ReleaseStranded puts a stranded alert back on the triage desk, only if
// it is still declared without an incident since before.
func (s *Store) ReleaseStranded(ctx context.Context, id int64, before time.Time) error {
	res, err := s.ws.exec(ctx, nil, qReleaseStranded, id, before.UnixMicro())
	if err != nil {
		return fmt.Errorf("release stranded alert %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("release stranded alert %d: %w", id, err)
	}
	if n == 0 {
		al, err := s.Alert(ctx, id)
		if err != nil {
			return err
		}
		on := ""
		if al.IncidentID != "" {
			on = " on " + al.IncidentID
		}
		return sitrep.Errorf(sitrep.EConflict, "alert %d is no longer stranded: it is %s%s", id, al.Triage, on)
	}
	return nil
}
