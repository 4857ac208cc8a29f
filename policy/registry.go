package policy

import (
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"time"

	"github.com/certflow/certflow/errs"
)

// shipped holds the profiles transcribed from the seeds.
//
//go:embed profiles/*.json
var shipped embed.FS

// Registry holds profile versions by name. It is built once at start-up
// and read-only afterwards.
type Registry struct {
	// byName holds each name's versions, oldest effective_from first.
	byName map[string][]Profile
	// files records where each name@version came from, for duplicate errors.
	files map[string]string
}

// LoadRegistry parses and validates the embedded profiles.
func LoadRegistry() (*Registry, error) {
	return LoadRegistryFS(nil)
}

// LoadRegistryDir loads the embedded profiles plus every *.json file of dir
// (an operator's extra profiles or new versions of shipped ones).
func LoadRegistryDir(dir string) (*Registry, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, errs.Wrap(errs.Invalid, err, "profile directory %s: not a readable directory", dir)
	}
	return LoadRegistryFS(os.DirFS(dir))
}

// LoadRegistryFS loads the embedded profiles plus every *.json file at the
// root of extra (nil: none), in file-name order. A broken file is an
// errs.Invalid error naming the file and the field; a name@version or a
// name and effective_from loaded twice is an error too.
func LoadRegistryFS(extra fs.FS) (*Registry, error) {
	r := &Registry{byName: map[string][]Profile{}, files: map[string]string{}}
	sub, err := fs.Sub(shipped, "profiles")
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "embedded profiles")
	}
	if err := r.addAll(sub, "embedded:"); err != nil {
		return nil, err
	}
	if extra != nil {
		if err := r.addAll(extra, ""); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Registry) addAll(fsys fs.FS, prefix string) error {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "listing profile files")
	}
	slices.Sort(names)
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return errs.Wrap(errs.Invalid, err, "profile file %s: unreadable", prefix+name)
		}
		if err := r.add(prefix+path.Base(name), data); err != nil {
			return err
		}
	}
	return nil
}

// add parses one file and files its profile under its name, keeping the
// versions ordered by effective_from.
func (r *Registry) add(file string, data []byte) error {
	p, err := ParseProfile(file, data)
	if err != nil {
		return err
	}
	if prev, ok := r.files[p.ID()]; ok {
		return errs.E(errs.Invalid, "profile file %s: field version: %s already loaded from %s", file, p.ID(), prev)
	}
	versions := r.byName[p.Name]
	for _, q := range versions {
		if q.EffectiveFrom.Equal(p.EffectiveFrom) {
			return errs.E(errs.Invalid, "profile file %s: field effective_from: %s takes effect at the same instant as %s", file, p.ID(), q.ID())
		}
	}
	versions = append(versions, p)
	slices.SortStableFunc(versions, func(a, b Profile) int { return a.EffectiveFrom.Compare(b.EffectiveFrom) })
	r.byName[p.Name] = versions
	r.files[p.ID()] = file
	return nil
}

// Names lists the profile names, sorted.
func (r *Registry) Names() []string {
	return slices.Sorted(maps.Keys(r.byName))
}

// Versions lists the versions of the named profile, oldest first.
func (r *Registry) Versions(name string) []Profile {
	out := make([]Profile, 0, len(r.byName[name]))
	for _, p := range r.byName[name] {
		out = append(out, p.clone())
	}
	return out
}

// Resolve returns the version of the named profile in force at paidAt: the
// one with the latest effective_from <= paidAt. An unknown name, or a
// paidAt before every version, is an errs.NotFound error naming it.
func (r *Registry) Resolve(name string, paidAt time.Time) (Profile, error) {
	versions, ok := r.byName[name]
	if !ok {
		return Profile{}, errs.E(errs.NotFound, "profile %q not found", name)
	}
	for i := len(versions) - 1; i >= 0; i-- {
		if !versions[i].EffectiveFrom.After(paidAt) {
			return versions[i].clone(), nil
		}
	}
	return Profile{}, errs.E(errs.NotFound, "profile %q has no version in force at %s (first effective %s)",
		name, paidAt.Format(time.RFC3339), versions[0].EffectiveFrom.Format(time.RFC3339))
}

// String lists the loaded versions, for logs.
func (r *Registry) String() string {
	var ids []string
	for _, n := range r.Names() {
		for _, p := range r.byName[n] {
			ids = append(ids, p.ID())
		}
	}
	return fmt.Sprint(ids)
}
