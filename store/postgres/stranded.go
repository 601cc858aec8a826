package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// StrandedAlerts lists the alerts declared without an incident whose
// triage last changed before before (see migration 00007: the database
// stamps each change), oldest first.
func (s *Store) StrandedAlerts(ctx context.Context, before time.Time, limit int) ([]*sitrep.Alert, error) {
	limit = min(max(limit, 1), maxAlertsLimit)
	return s.listAlerts(ctx, "list stranded alerts", selectAlerts+` WHERE triage = 'declared' AND incident_id IS NULL
		AND (triaged_at IS NULL OR triaged_at < $1) ORDER BY id LIMIT $2`, before, limit)
}

// ReleaseStranded puts a stranded alert back on the triage desk, only if
// it is still declared without an incident since before.
func (s *Store) ReleaseStranded(ctx context.Context, id int64, before time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE alerts SET triage = 'pending' WHERE id = $1 AND triage = 'declared'
		AND incident_id IS NULL AND (triaged_at IS NULL OR triaged_at < $2)`, id, before)
	if err != nil {
		return fmt.Errorf("release stranded alert %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
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
