package fhirinput

import (
	"strconv"
	"strings"
)

// node is one resource of the input with where it was found.
type node struct {
	r       *resource
	path    string // FHIR path: DiagnosticReport, Bundle.entry[3].resource, ....contained[0]
	fullURL string
	parent  *node // the container of a contained resource
}

// index finds the resources of one input by the references FHIR allows:
// "#id" within the container, the entry's fullUrl (urn:uuid:, urn:oid:,
// absolute URLs), and Type/id (relative to the referring entry's base, then
// anywhere in the Bundle). Nothing is ever fetched.
type index struct {
	byURL    map[string]*node
	byTypeID map[string]*node
	entries  []*node
}

// newIndex indexes root (a resource or a Bundle); it returns the number of
// resources seen, entries and contained together.
func newIndex(root *resource) (*index, int) {
	ix := &index{byURL: map[string]*node{}, byTypeID: map[string]*node{}}
	count := 0
	var countContained func(r *resource)
	countContained = func(r *resource) {
		for _, c := range r.Contained {
			if c != nil {
				count++
				countContained(c)
			}
		}
	}
	add := func(n *node) {
		count++
		countContained(n.r)
		ix.entries = append(ix.entries, n)
		if n.fullURL != "" {
			if _, dup := ix.byURL[n.fullURL]; !dup {
				ix.byURL[n.fullURL] = n
			}
		}
		if n.r.ID != "" {
			k := n.r.ResourceType + "/" + n.r.ID
			if _, dup := ix.byTypeID[k]; !dup {
				ix.byTypeID[k] = n
			}
		}
	}
	if root.ResourceType == "Bundle" {
		for i := range root.Entry {
			e := &root.Entry[i]
			if e.Resource == nil {
				continue
			}
			add(&node{r: e.Resource, path: "Bundle.entry[" + strconv.Itoa(i) + "].resource", fullURL: e.FullURL})
		}
	} else {
		add(&node{r: root, path: root.ResourceType})
	}
	return ix, count
}

// resolve finds the resource ref points at, from the resource holding it.
func (ix *index) resolve(from *node, ref string) *node {
	if ref == "" {
		return nil
	}
	if strings.HasPrefix(ref, "#") {
		top := from
		for top.parent != nil {
			top = top.parent
		}
		if ref == "#" {
			return top
		}
		for i, c := range top.r.Contained {
			if c != nil && c.ID == ref[1:] {
				return &node{r: c, path: top.path + ".contained[" + strconv.Itoa(i) + "]", parent: top}
			}
		}
		return nil
	}
	if n := ix.byURL[ref]; n != nil {
		return n
	}
	plain := ref
	if i := strings.Index(plain, "/_history/"); i >= 0 {
		plain = plain[:i]
		if n := ix.byURL[plain]; n != nil {
			return n
		}
	}
	if strings.HasPrefix(ref, "urn:") {
		return nil
	}
	if strings.Contains(plain, "://") {
		// An absolute reference not among the fullUrls: never fetched. A
		// Bundle without fullUrls may still hold it as Type/id under the
		// same server base; only the last two segments are compared when
		// no entry has a fullUrl to tell bases apart.
		if len(ix.byURL) > 0 {
			return nil
		}
		segs := strings.Split(strings.TrimSuffix(plain, "/"), "/")
		if len(segs) < 2 {
			return nil
		}
		return ix.byTypeID[segs[len(segs)-2]+"/"+segs[len(segs)-1]]
	}
	// Relative Type/id: first against the referring entry's base.
	top := from
	for top.parent != nil {
		top = top.parent
	}
	if base := serverBase(top); base != "" {
		if n := ix.byURL[base+plain]; n != nil {
			return n
		}
	}
	return ix.byTypeID[plain]
}

// serverBase returns the part of an entry's fullUrl before Type/id
// ("http://x/fhir/" of "http://x/fhir/Patient/1"), or "".
func serverBase(n *node) string {
	u := n.fullURL
	if !strings.Contains(u, "://") || n.r.ID == "" {
		return ""
	}
	suffix := n.r.ResourceType + "/" + n.r.ID
	if strings.HasSuffix(u, "/"+suffix) {
		return u[:len(u)-len(suffix)]
	}
	return ""
}
