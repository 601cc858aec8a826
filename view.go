package sitrep

// IncidentView is an incident as the API shows it: its state and the
// advisories derived from it.
type IncidentView struct {
	*Incident
	Warnings []Warning `json:"warnings"`
}

// View returns the view of inc.
func View(inc *Incident) *IncidentView {
	return &IncidentView{Incident: inc, Warnings: inc.Warnings()}
}

// EntryView is a timeline entry with its description for people.
type EntryView struct {
	Entry
	Text string `json:"text"`
}

// ViewEntries describes each entry.
func ViewEntries(entries []Entry) []EntryView {
	out := make([]EntryView, len(entries))
	for i := range entries {
		out[i] = EntryView{Entry: entries[i], Text: Describe(&entries[i])}
	}
	return out
}

// Result is the answer to a change of an incident: its state afterwards and
// the entries the change appended to its timeline.
type Result struct {
	Incident *IncidentView `json:"incident"`
	Entries  []EntryView   `json:"entries"`
}
