// Command doccheck fails when an exported name has no doc comment: a
// top-level function, type, constant or variable, a method of an exported
// type, a field of an exported struct or a method of an exported
// interface. `make lint` runs it over every published module:
//
//	go run ./internal/doccheck . sessions/sqlitestore cmd/sess-gc examples
//
// It skips generated files ("Code generated … DO NOT EDIT."), tests,
// testdata, node_modules, package main (its exported names are no API) and
// directories holding another go.mod (their own module, listed separately).
// A constant or variable in a parenthesised group may be covered by the
// group's comment; a field or name may be documented by a comment on its
// line.
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: doccheck DIR...")
		os.Exit(2)
	}
	var all []string
	for _, root := range os.Args[1:] {
		found, err := checkModule(root)
		if err != nil {
			fmt.Fprintln(os.Stderr, "doccheck:", err)
			os.Exit(2)
		}
		all = append(all, found...)
	}
	for _, f := range all {
		fmt.Println(f)
	}
	if len(all) > 0 {
		fmt.Fprintf(os.Stderr, "doccheck: %d exported names without a doc comment\n", len(all))
		os.Exit(1)
	}
}

// checkModule returns "file:line: name" for every undocumented exported
// name in the Go files under root, not descending into other modules.
func checkModule(root string) ([]string, error) {
	var out []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return skipDir(root, path, d.Name())
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" || ast.IsGenerated(f) {
			return nil
		}
		out = append(out, checkFile(fset, f)...)
		return nil
	})
	sort.Strings(out)
	return out, err
}

// skipDir says whether the walk leaves out the directory at path.
func skipDir(root, path, name string) error {
	if path == root {
		return nil
	}
	if name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
		return filepath.SkipDir
	}
	if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
		return filepath.SkipDir // another module
	}
	return nil
}

// checkFile lists the undocumented exported names of one file.
func checkFile(fset *token.FileSet, f *ast.File) []string {
	var out []string
	report := func(pos token.Pos, what string) {
		p := fset.Position(pos)
		out = append(out, fmt.Sprintf("%s:%d: %s has no doc comment", p.Filename, p.Line, what))
	}
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			checkFunc(d, report)
		case *ast.GenDecl:
			checkGen(d, report)
		}
	}
	return out
}

func checkFunc(d *ast.FuncDecl, report func(token.Pos, string)) {
	if !d.Name.IsExported() || d.Doc != nil {
		return
	}
	if d.Recv == nil {
		report(d.Pos(), "func "+d.Name.Name)
		return
	}
	recv := receiverName(d.Recv.List[0].Type)
	if ast.IsExported(recv) {
		report(d.Pos(), "method "+recv+"."+d.Name.Name)
	}
}

// receiverName is T for receivers T, *T, T[P] and *T[P].
func receiverName(e ast.Expr) string {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.IndexListExpr:
			e = t.X
		case *ast.Ident:
			return t.Name
		default:
			return ""
		}
	}
}

func checkGen(d *ast.GenDecl, report func(token.Pos, string)) {
	grouped := d.Lparen.IsValid()
	for _, spec := range d.Specs {
		switch s := spec.(type) {
		case *ast.TypeSpec:
			if !s.Name.IsExported() {
				continue
			}
			if s.Doc == nil && s.Comment == nil && d.Doc == nil {
				report(s.Pos(), "type "+s.Name.Name)
			}
			checkTypeBody(s.Name.Name, s.Type, report)
		case *ast.ValueSpec:
			documented := s.Doc != nil || s.Comment != nil || grouped && d.Doc != nil || !grouped && d.Doc != nil
			for _, n := range s.Names {
				if n.IsExported() && !documented {
					report(n.Pos(), d.Tok.String()+" "+n.Name)
				}
			}
		}
	}
}

// checkTypeBody reports the undocumented exported fields of a struct type
// and methods of an interface type, including those of nested structs.
func checkTypeBody(typeName string, e ast.Expr, report func(token.Pos, string)) {
	var fields *ast.FieldList
	kind := "field"
	switch t := e.(type) {
	case *ast.StructType:
		fields = t.Fields
	case *ast.InterfaceType:
		fields, kind = t.Methods, "method"
	default:
		return
	}
	for _, fld := range fields.List {
		if st, ok := fld.Type.(*ast.StructType); ok {
			checkTypeBody(typeName, st, report)
		}
		documented := fld.Doc != nil || fld.Comment != nil
		for _, n := range fld.Names {
			if n.IsExported() && !documented {
				report(n.Pos(), kind+" "+typeName+"."+n.Name)
			}
		}
		if len(fld.Names) == 0 && !documented { // embedded: exported if its type is
			if name := receiverName(fld.Type); ast.IsExported(name) && kind == "field" {
				report(fld.Pos(), "embedded field "+typeName+"."+name)
			}
		}
	}
}
