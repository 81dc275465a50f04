package logbuf

import "sort"

// Store is the set of rings, one per service, sharing one sequence.
type Store struct {
	limit int
	seq   uint64
	rings map[string]*Ring
}

// NewStore returns an empty store whose rings keep limit lines each.
func NewStore(limit int) *Store {
	return &Store{limit: limit, rings: map[string]*Ring{}}
}

// Limit is the number of lines each service keeps.
func (s *Store) Limit() int { return s.limit }

// Append stores a line of a service and returns the sequence number it got.
func (s *Store) Append(service string, l Line) uint64 {
	s.seq++
	l.Seq = s.seq
	s.ring(service).Push(l)
	return s.seq
}

// AddDropped counts lines of a service discarded before they arrived.
func (s *Store) AddDropped(service string, n uint64) {
	s.ring(service).AddDropped(n)
}

// Last is the sequence number of the newest line of any service (0: none).
func (s *Store) Last() uint64 { return s.seq }

// Ring returns a service's ring, or nil when it has no line yet.
func (s *Store) Ring(service string) *Ring { return s.rings[service] }

func (s *Store) ring(service string) *Ring {
	r, ok := s.rings[service]
	if !ok {
		r = NewRing(s.limit)
		s.rings[service] = r
	}
	return r
}

// View returns the merged view of the given services' lines, or of every
// service when none is given.
func (s *Store) View(services ...string) View {
	if len(services) == 0 {
		services = make([]string, 0, len(s.rings))
		for name := range s.rings {
			services = append(services, name)
		}
		sort.Strings(services)
	}
	v := View{}
	for _, name := range services {
		if r, ok := s.rings[name]; ok {
			v.names = append(v.names, name)
			v.rings = append(v.rings, r)
		}
	}
	return v
}

// Ref is a line of a merged view with the service it belongs to. Line
// points into a ring: it is valid until the next Append.
type Ref struct {
	Service string
	Line    *Line
}
