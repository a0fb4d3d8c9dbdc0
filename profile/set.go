package profile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/foliohealth/folio/report"
)

// Set is the profiles of one deployment, in file-name order.
type Set struct {
	list []*Profile
	byID map[string]*Profile
	def  *Profile
}

// LoadDir loads every *.json file directly in dir as a profile (logos and
// keys live beside them). Problems are named "FILE: field: rule"; the set is
// refused whole when any profile is.
func LoadDir(dir string) (*Set, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("profile: %s: %w", dir, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("profile: %s: not a directory", dir)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ps []*Profile
	var errs Errors
	for _, n := range names {
		p, err := Load(n)
		if err != nil {
			errs = append(errs, prefixed(filepath.Base(n), err)...)
			continue
		}
		ps = append(ps, p)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return NewSet(ps...)
}

func prefixed(file string, err error) Errors {
	var es report.Errors
	if !errors.As(err, &es) {
		return Errors{{Path: file, Rule: err.Error()}}
	}
	out := make(Errors, len(es))
	for i, e := range es {
		out[i] = report.FieldError{Path: file + ": " + e.Path, Rule: e.Rule}
	}
	return out
}

// NewSet makes a set of checked profiles in the order given, refusing two
// with one id or two defaults.
func NewSet(ps ...*Profile) (*Set, error) {
	s := &Set{byID: map[string]*Profile{}}
	var errs Errors
	name := func(p *Profile) string {
		if p.File != "" {
			return filepath.Base(p.File) + ": "
		}
		return ""
	}
	for _, p := range ps {
		if q := s.byID[p.ID]; q != nil {
			errs = append(errs, report.FieldError{Path: name(p) + "id", Rule: fmt.Sprintf("%q is already the id of %s", p.ID, orID(q))})
			continue
		}
		if p.Default {
			if s.def != nil {
				errs = append(errs, report.FieldError{Path: name(p) + "default", Rule: fmt.Sprintf("%s is already the default: at most one profile may be", orID(s.def))})
				continue
			}
			s.def = p
		}
		s.byID[p.ID] = p
		s.list = append(s.list, p)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

func orID(p *Profile) string {
	if p.File != "" {
		return filepath.Base(p.File)
	}
	return "profile " + p.ID
}

// Profiles returns the set's profiles in file-name order.
func (s *Set) Profiles() []*Profile {
	if s == nil {
		return nil
	}
	return append([]*Profile(nil), s.list...)
}

// Get returns the profile with the given id, or nil.
func (s *Set) Get(id string) *Profile {
	if s == nil {
		return nil
	}
	return s.byID[id]
}

// Select returns the profile for a report: the first whose match fits it,
// else the default, else nil (folio's built-in look).
func (s *Set) Select(sub Subject) *Profile {
	if s == nil {
		return nil
	}
	for _, p := range s.list {
		if p.Matches(sub) {
			return p
		}
	}
	return s.def
}

// ErrUnknown is returned (wrapped) by Pick for an id the set does not hold.
var ErrUnknown = errors.New("no such profile")

// Pick returns the profile a job names, or, when id is "", the one Select
// chooses. An id the set does not hold is an error naming it.
func (s *Set) Pick(id string, sub Subject) (*Profile, error) {
	if id == "" {
		return s.Select(sub), nil
	}
	if p := s.Get(id); p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("profile: %q: %w (loaded: %d profiles)", id, ErrUnknown, len(s.Profiles()))
}
