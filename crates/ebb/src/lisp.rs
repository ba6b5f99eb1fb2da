//! A small Lisp on ebb regions: the value model a language runtime builds on
//! [`ebb_region`], and an evaluator in which every function call allocates in a region of
//! its own and transmigrates its result into the caller's region on return.
//!
//! Values are [`Value`]s: `nil`, integers, symbols, strings, cons cells and vectors. The
//! evaluator knows `define` (functions only), `if`, `quote`/`'`, `let` and the builtins
//! `+ - * < = cons car cdr null? list vector vector-ref length display`. Functions are
//! named by symbols (there are no closures), so `(map square xs)` passes `square` by name.
//!
//! Symbols come from a small interner owned by the evaluator ([`Interner`]); a shared,
//! concurrent intern table (planned for `ebb-sync`) does not exist yet.
//!
//! The same evaluator runs over `Rc` values ([`RcHeap`]) for comparison: the
//! [`Heap`] trait is the only difference between the two.

extern crate std;

use ebb_region::{RPtr, RSlice, RStr, Region, RegionConfig, RegionCounter, Trace};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::format;
use std::rc::Rc;
use std::string::{String, ToString};
use std::sync::Arc;
use std::vec::Vec;

/// A symbol: an index into the evaluator's [`Interner`].
pub type Symbol = u32;

/// A Lisp value in a region.
#[derive(Clone, Copy, Debug, Trace)]
pub enum Value {
    /// The empty list.
    Nil,
    /// A 64-bit integer.
    Int(i64),
    /// A symbol.
    Sym(Symbol),
    /// A string.
    Str(RStr),
    /// A cons cell.
    Cons(RPtr<Pair>),
    /// A vector.
    Vector(RSlice<Value>),
}

/// A cons cell.
#[derive(Clone, Copy, Debug, Trace)]
pub struct Pair {
    /// The head.
    pub car: Value,
    /// The tail.
    pub cdr: Value,
}

/// A symbol interner: names to dense indices and back.
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<String, Symbol>,
    names: Vec<String>,
}

impl Interner {
    /// The symbol of `name`, interning it on first use.
    pub fn intern(&mut self, name: &str) -> Symbol {
        if let Some(&s) = self.ids.get(name) {
            return s;
        }
        let s = self.names.len() as Symbol;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), s);
        s
    }

    /// The name of `s` (`"?"` for a symbol this interner did not make).
    pub fn name(&self, s: Symbol) -> &str {
        self.names.get(s as usize).map_or("?", |n| n.as_str())
    }
}

/// A parsed expression (the program, outside any region).
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// An integer literal.
    Int(i64),
    /// A string literal.
    Str(String),
    /// A symbol (a variable, or a function name).
    Sym(Symbol),
    /// A list form.
    List(Vec<Expr>),
}

/// Errors of parsing and evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LispError {
    /// Malformed source text.
    Parse(String),
    /// A runtime error: unbound variable, wrong type, bad arity.
    Eval(String),
    /// A region operation failed (a bug in the evaluator if it happens).
    Region(ebb_region::RegionError),
}

impl core::fmt::Display for LispError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LispError::Parse(m) => write!(f, "parse error: {m}"),
            LispError::Eval(m) => write!(f, "eval error: {m}"),
            LispError::Region(e) => write!(f, "region error: {e}"),
        }
    }
}

impl std::error::Error for LispError {}

impl From<ebb_region::RegionError> for LispError {
    fn from(e: ebb_region::RegionError) -> Self {
        LispError::Region(e)
    }
}

fn err<T>(m: impl Into<String>) -> Result<T, LispError> {
    Err(LispError::Eval(m.into()))
}

/// Parses source text into top-level expressions.
pub fn parse(src: &str, syms: &mut Interner) -> Result<Vec<Expr>, LispError> {
    let mut toks = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            '(' | ')' | '\'' => {
                toks.push(c.to_string());
                chars.next();
            }
            ';' => while chars.next_if(|&(_, c)| c != '\n').is_some() {},
            '"' => {
                chars.next();
                let mut s = String::from("\"");
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, c)) => s.push(c),
                        None => {
                            return Err(LispError::Parse(format!("unterminated string at {i}")));
                        }
                    }
                }
                toks.push(s);
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            _ => {
                let mut s = String::new();
                while let Some((_, c)) =
                    chars.next_if(|&(_, c)| !c.is_whitespace() && !"()'\";".contains(c))
                {
                    s.push(c);
                }
                toks.push(s);
            }
        }
    }
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < toks.len() {
        out.push(parse_expr(&toks, &mut pos, syms)?);
    }
    Ok(out)
}

fn parse_expr(toks: &[String], pos: &mut usize, syms: &mut Interner) -> Result<Expr, LispError> {
    let t = toks
        .get(*pos)
        .ok_or_else(|| LispError::Parse("unexpected end of input".into()))?;
    *pos += 1;
    match t.as_str() {
        "(" => {
            let mut items = Vec::new();
            loop {
                match toks.get(*pos).map(|s| s.as_str()) {
                    Some(")") => {
                        *pos += 1;
                        return Ok(Expr::List(items));
                    }
                    Some(_) => items.push(parse_expr(toks, pos, syms)?),
                    None => return Err(LispError::Parse("missing )".into())),
                }
            }
        }
        ")" => Err(LispError::Parse("unexpected )".into())),
        "'" => {
            let e = parse_expr(toks, pos, syms)?;
            Ok(Expr::List(std::vec![Expr::Sym(syms.intern("quote")), e]))
        }
        s if s.starts_with('"') => Ok(Expr::Str(s[1..].to_string())),
        s => match s.parse::<i64>() {
            Ok(i) => Ok(Expr::Int(i)),
            Err(_) => Ok(Expr::Sym(syms.intern(s))),
        },
    }
}

/// What the evaluator needs from a value representation: the region heap or `Rc`.
pub trait Heap {
    /// A value.
    type V: Clone + core::fmt::Debug;
    /// `nil`.
    fn nil(&self) -> Self::V;
    /// An integer.
    fn int(&self, i: i64) -> Self::V;
    /// A symbol.
    fn sym(&self, s: Symbol) -> Self::V;
    /// A new string.
    fn string(&mut self, s: &str) -> Self::V;
    /// A new cons cell.
    fn cons(&mut self, car: Self::V, cdr: Self::V) -> Self::V;
    /// A new vector.
    fn vector(&mut self, items: &[Self::V]) -> Self::V;
    /// What a value is, for the evaluator to branch on.
    fn view(&self, v: &Self::V) -> Result<View<Self::V>, LispError>;
    /// Enters a function call (a new region for the region heap).
    fn enter(&mut self);
    /// Leaves a call, moving its result into the caller's scope.
    fn leave(&mut self, result: Self::V) -> Result<Self::V, LispError>;
}

/// A value as the evaluator sees it.
#[derive(Debug)]
pub enum View<V> {
    /// `nil`.
    Nil,
    /// An integer.
    Int(i64),
    /// A symbol.
    Sym(Symbol),
    /// A string's text.
    Str(String),
    /// A cons cell's car and cdr.
    Cons(V, V),
    /// A vector's elements.
    Vector(Vec<V>),
}

// === impl RegionHeap ===

/// Values in regions: one region per active call, a stack of them; a call's result is
/// transmigrated into its caller's region when it returns.
#[derive(Debug)]
pub struct RegionHeap {
    frames: Vec<Region>,
    counter: Arc<RegionCounter>,
    config: RegionConfig,
}

impl RegionHeap {
    /// A heap with a top-level region, counting every region it makes in `counter`.
    pub fn new(counter: Arc<RegionCounter>) -> RegionHeap {
        let config = RegionConfig::new()
            .block_size(4096)
            .expect("4 KiB is a valid block size")
            .counter(counter.clone());
        RegionHeap {
            frames: std::vec![Region::with_config(config.clone())],
            counter,
            config,
        }
    }

    fn top(&self) -> &Region {
        self.frames
            .last()
            .expect("the top-level region is never popped")
    }

    /// The region holding `id`'s objects among the live frames.
    fn frame_of(&self, id: u64) -> Result<&Region, LispError> {
        self.frames
            .iter()
            .rev()
            .find(|r| r.id() == id)
            .ok_or(LispError::Region(ebb_region::RegionError::Foreign {
                pointer: id,
                region: self.top().id(),
            }))
    }

    /// Regions alive now (frames and any not yet freed).
    pub fn live_regions(&self) -> usize {
        self.counter.live()
    }
}

impl Heap for RegionHeap {
    type V = Value;
    fn nil(&self) -> Value {
        Value::Nil
    }
    fn int(&self, i: i64) -> Value {
        Value::Int(i)
    }
    fn sym(&self, s: Symbol) -> Value {
        Value::Sym(s)
    }
    fn string(&mut self, s: &str) -> Value {
        Value::Str(self.top().alloc_str(s))
    }
    fn cons(&mut self, car: Value, cdr: Value) -> Value {
        Value::Cons(self.top().alloc(Pair { car, cdr }))
    }
    fn vector(&mut self, items: &[Value]) -> Value {
        Value::Vector(self.top().alloc_slice(items))
    }
    fn view(&self, v: &Value) -> Result<View<Value>, LispError> {
        Ok(match *v {
            Value::Nil => View::Nil,
            Value::Int(i) => View::Int(i),
            Value::Sym(s) => View::Sym(s),
            Value::Str(s) => {
                let r = self.frame_of(s.as_bytes().region_id())?;
                View::Str(r.str(s)?.to_string())
            }
            Value::Cons(p) => {
                let pair = self.frame_of(p.region_id())?.get(p)?;
                View::Cons(pair.car, pair.cdr)
            }
            Value::Vector(s) => {
                if s.is_empty() {
                    View::Vector(Vec::new())
                } else {
                    View::Vector(self.frame_of(s.region_id())?.slice(s)?.to_vec())
                }
            }
        })
    }
    fn enter(&mut self) {
        self.frames.push(Region::with_config(self.config.clone()));
    }
    fn leave(&mut self, result: Value) -> Result<Value, LispError> {
        let callee = self.frames.pop().expect("leave matches enter");
        let caller = self.top();
        let out = match result {
            Value::Nil | Value::Int(_) | Value::Sym(_) => result,
            _ => {
                // The result may point into the callee (copied), the caller, or outer
                // frames (kept: they outlive the caller).
                let outer: Vec<u64> = self.frames.iter().map(|r| r.id()).collect();
                let keep = |id: u64| outer.contains(&id);
                let root = callee.alloc(result);
                let copied = ebb_region::transmigrate_keeping(&callee, root, caller, &keep)?;
                *caller.get(copied)?
            }
        };
        drop(callee);
        Ok(out)
    }
}

// === impl RcHeap ===

/// The same values on `Rc` (the comparison point for the benchmark).
#[derive(Debug, Default)]
pub struct RcHeap;

/// A value on `Rc`.
#[derive(Clone, Debug)]
pub enum RcValue {
    /// `nil`.
    Nil,
    /// An integer.
    Int(i64),
    /// A symbol.
    Sym(Symbol),
    /// A string.
    Str(Rc<str>),
    /// A cons cell.
    Cons(Rc<(RcValue, RcValue)>),
    /// A vector.
    Vector(Rc<[RcValue]>),
}

impl Heap for RcHeap {
    type V = RcValue;
    fn nil(&self) -> RcValue {
        RcValue::Nil
    }
    fn int(&self, i: i64) -> RcValue {
        RcValue::Int(i)
    }
    fn sym(&self, s: Symbol) -> RcValue {
        RcValue::Sym(s)
    }
    fn string(&mut self, s: &str) -> RcValue {
        RcValue::Str(Rc::from(s))
    }
    fn cons(&mut self, car: RcValue, cdr: RcValue) -> RcValue {
        RcValue::Cons(Rc::new((car, cdr)))
    }
    fn vector(&mut self, items: &[RcValue]) -> RcValue {
        RcValue::Vector(Rc::from(items))
    }
    fn view(&self, v: &RcValue) -> Result<View<RcValue>, LispError> {
        Ok(match v {
            RcValue::Nil => View::Nil,
            RcValue::Int(i) => View::Int(*i),
            RcValue::Sym(s) => View::Sym(*s),
            RcValue::Str(s) => View::Str(s.to_string()),
            RcValue::Cons(p) => View::Cons(p.0.clone(), p.1.clone()),
            RcValue::Vector(v) => View::Vector(v.to_vec()),
        })
    }
    fn enter(&mut self) {}
    fn leave(&mut self, result: RcValue) -> Result<RcValue, LispError> {
        Ok(result)
    }
}

// === impl Interp ===

struct Func {
    params: Vec<Symbol>,
    body: Expr,
}

/// The evaluator over a [`Heap`].
pub struct Interp<H: Heap> {
    /// The heap values live in.
    pub heap: H,
    /// The symbol table.
    pub syms: Interner,
    funcs: HashMap<Symbol, Rc<Func>>,
    /// What `display` printed, one line per call.
    pub output: String,
    depth: usize,
    k: Keywords,
}

struct Keywords {
    define: Symbol,
    if_: Symbol,
    quote: Symbol,
    let_: Symbol,
    t: Symbol,
}

/// The builtin functions, callable and passable by name.
pub const BUILTINS: &[&str] = &[
    "+",
    "-",
    "*",
    "<",
    "=",
    "cons",
    "car",
    "cdr",
    "null?",
    "list",
    "vector",
    "vector-ref",
    "length",
    "display",
];

/// Calls deeper than this are an error rather than a stack overflow (the evaluator
/// recurses on the Rust stack; 200 calls fit a 2 MiB test thread in a debug build).
pub const MAX_DEPTH: usize = 200;

impl<H: Heap> Interp<H> {
    /// An evaluator over `heap`.
    pub fn new(heap: H) -> Interp<H> {
        let mut syms = Interner::default();
        let k = Keywords {
            define: syms.intern("define"),
            if_: syms.intern("if"),
            quote: syms.intern("quote"),
            let_: syms.intern("let"),
            t: syms.intern("t"),
        };
        Interp {
            heap,
            syms,
            funcs: HashMap::new(),
            output: String::new(),
            depth: 0,
            k,
        }
    }

    /// Parses and runs a program; returns the value of its last expression.
    pub fn run(&mut self, src: &str) -> Result<H::V, LispError> {
        let prog = parse(src, &mut self.syms)?;
        let mut last = self.heap.nil();
        for e in &prog {
            last = self.eval(e, &[])?;
        }
        Ok(last)
    }

    /// Prints a value as Lisp source.
    pub fn show(&self, v: &H::V) -> Result<String, LispError> {
        let mut s = String::new();
        self.write(v, &mut s)?;
        Ok(s)
    }

    fn write(&self, v: &H::V, out: &mut String) -> Result<(), LispError> {
        match self.heap.view(v)? {
            View::Nil => out.push_str("()"),
            View::Int(i) => {
                let _ = write!(out, "{i}");
            }
            View::Sym(s) => out.push_str(self.syms.name(s)),
            View::Str(s) => {
                let _ = write!(out, "{s:?}");
            }
            View::Vector(items) => {
                out.push_str("#(");
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    self.write(x, out)?;
                }
                out.push(')');
            }
            View::Cons(mut car, mut cdr) => {
                out.push('(');
                loop {
                    self.write(&car, out)?;
                    match self.heap.view(&cdr)? {
                        View::Nil => break,
                        View::Cons(a, d) => {
                            out.push(' ');
                            car = a;
                            cdr = d;
                        }
                        _ => {
                            out.push_str(" . ");
                            self.write(&cdr, out)?;
                            break;
                        }
                    }
                }
                out.push(')');
            }
        }
        Ok(())
    }

    fn quote(&mut self, e: &Expr) -> H::V {
        match e {
            Expr::Int(i) => self.heap.int(*i),
            Expr::Str(s) => self.heap.string(s),
            Expr::Sym(s) => self.heap.sym(*s),
            Expr::List(items) => {
                let mut v = self.heap.nil();
                for x in items.iter().rev() {
                    let q = self.quote(x);
                    v = self.heap.cons(q, v);
                }
                v
            }
        }
    }

    fn truthy(&self, v: &H::V) -> Result<bool, LispError> {
        Ok(!matches!(self.heap.view(v)?, View::Nil))
    }

    fn as_int(&self, v: &H::V) -> Result<i64, LispError> {
        match self.heap.view(v)? {
            View::Int(i) => Ok(i),
            other => err(format!("expected an integer, got {other:?}")),
        }
    }

    fn boolean(&self, b: bool) -> H::V {
        if b {
            self.heap.sym(self.k.t)
        } else {
            self.heap.nil()
        }
    }

    fn eval(&mut self, e: &Expr, env: &[(Symbol, H::V)]) -> Result<H::V, LispError> {
        match e {
            Expr::Int(i) => Ok(self.heap.int(*i)),
            Expr::Str(s) => Ok(self.heap.string(s)),
            Expr::Sym(s) => env
                .iter()
                .rev()
                .find(|(k, _)| k == s)
                .map(|(_, v)| v.clone())
                .or_else(|| {
                    (self.funcs.contains_key(s) || BUILTINS.contains(&self.syms.name(*s)))
                        .then(|| self.heap.sym(*s))
                })
                .ok_or_else(|| LispError::Eval(format!("unbound {}", self.syms.name(*s)))),
            Expr::List(items) => {
                let Some((head, args)) = items.split_first() else {
                    return Ok(self.heap.nil());
                };
                if let Expr::Sym(h) = head {
                    let h = *h;
                    if h == self.k.quote {
                        let [x] = args else {
                            return err("quote takes one form");
                        };
                        return Ok(self.quote(x));
                    }
                    if h == self.k.if_ {
                        let [c, a, b] = args else {
                            return err("if takes three forms");
                        };
                        let c = self.eval(c, env)?;
                        return if self.truthy(&c)? {
                            self.eval(a, env)
                        } else {
                            self.eval(b, env)
                        };
                    }
                    if h == self.k.define {
                        let [Expr::List(sig), body] = args else {
                            return err("define takes (name params...) and a body");
                        };
                        let mut names = Vec::new();
                        for s in sig {
                            let Expr::Sym(s) = s else {
                                return err("parameters are symbols");
                            };
                            names.push(*s);
                        }
                        let Some((&name, params)) = names.split_first() else {
                            return err("define needs a name");
                        };
                        self.funcs.insert(
                            name,
                            Rc::new(Func {
                                params: params.to_vec(),
                                body: body.clone(),
                            }),
                        );
                        return Ok(self.heap.sym(name));
                    }
                    if h == self.k.let_ {
                        let [Expr::List(binds), body] = args else {
                            return err("let takes bindings and a body");
                        };
                        let mut env2 = env.to_vec();
                        for b in binds {
                            let Expr::List(b) = b else {
                                return err("a binding is (name expr)");
                            };
                            let [Expr::Sym(n), x] = b.as_slice() else {
                                return err("a binding is (name expr)");
                            };
                            let v = self.eval(x, env)?;
                            env2.push((*n, v));
                        }
                        return self.eval(body, &env2);
                    }
                }
                let f = self.eval(head, env)?;
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(a, env)?);
                }
                self.apply(&f, vals)
            }
        }
    }

    fn apply(&mut self, f: &H::V, args: Vec<H::V>) -> Result<H::V, LispError> {
        let View::Sym(name) = self.heap.view(f)? else {
            return err("only named functions can be called");
        };
        if let Some(func) = self.funcs.get(&name).cloned() {
            if func.params.len() != args.len() {
                return err(format!(
                    "{} takes {} arguments",
                    self.syms.name(name),
                    func.params.len()
                ));
            }
            if self.depth >= MAX_DEPTH {
                return err("recursion too deep");
            }
            let env: Vec<(Symbol, H::V)> = func.params.iter().copied().zip(args).collect();
            self.depth += 1;
            self.heap.enter();
            let r = self.eval(&func.body, &env);
            drop(env);
            let r = match r {
                Ok(v) => self.heap.leave(v),
                Err(e) => {
                    let nil = self.heap.nil();
                    let _ = self.heap.leave(nil);
                    Err(e)
                }
            };
            self.depth -= 1;
            return r;
        }
        self.builtin(name, args)
    }

    fn builtin(&mut self, name: Symbol, args: Vec<H::V>) -> Result<H::V, LispError> {
        let n = self.syms.name(name).to_string();
        let arity = |k: usize| -> Result<(), LispError> {
            if args.len() == k {
                Ok(())
            } else {
                err(format!("{n} takes {k} arguments"))
            }
        };
        match n.as_str() {
            "+" | "*" | "-" => {
                let mut it = args.iter();
                let mut acc = match (n.as_str(), it.next()) {
                    ("-", Some(first)) if args.len() > 1 => self.as_int(first)?,
                    ("-", Some(first)) => return Ok(self.heap.int(-self.as_int(first)?)),
                    ("*", first) => first.map_or(Ok(1), |x| self.as_int(x))?,
                    (_, first) => first.map_or(Ok(0), |x| self.as_int(x))?,
                };
                for x in it {
                    let x = self.as_int(x)?;
                    acc = match n.as_str() {
                        "+" => acc.wrapping_add(x),
                        "*" => acc.wrapping_mul(x),
                        _ => acc.wrapping_sub(x),
                    };
                }
                Ok(self.heap.int(acc))
            }
            "<" | "=" => {
                arity(2)?;
                let (a, b) = (self.as_int(&args[0])?, self.as_int(&args[1])?);
                Ok(self.boolean(if n == "<" { a < b } else { a == b }))
            }
            "cons" => {
                arity(2)?;
                let mut a = args.into_iter();
                let (x, y) = (a.next().expect("2"), a.next().expect("2"));
                Ok(self.heap.cons(x, y))
            }
            "car" | "cdr" => {
                arity(1)?;
                match self.heap.view(&args[0])? {
                    View::Cons(a, d) => Ok(if n == "car" { a } else { d }),
                    _ => err(format!("{n} of a non-pair")),
                }
            }
            "null?" => {
                arity(1)?;
                let b = matches!(self.heap.view(&args[0])?, View::Nil);
                Ok(self.boolean(b))
            }
            "list" => {
                let mut v = self.heap.nil();
                for x in args.into_iter().rev() {
                    v = self.heap.cons(x, v);
                }
                Ok(v)
            }
            "vector" => Ok(self.heap.vector(&args)),
            "vector-ref" => {
                arity(2)?;
                let i = self.as_int(&args[1])?;
                match self.heap.view(&args[0])? {
                    View::Vector(items) => usize::try_from(i)
                        .ok()
                        .and_then(|i| items.get(i).cloned())
                        .ok_or_else(|| LispError::Eval(format!("index {i} out of range"))),
                    _ => err("vector-ref of a non-vector"),
                }
            }
            "length" => {
                arity(1)?;
                let mut v = args[0].clone();
                let mut len = 0;
                loop {
                    match self.heap.view(&v)? {
                        View::Nil => break,
                        View::Cons(_, d) => {
                            len += 1;
                            v = d;
                        }
                        View::Vector(items) => {
                            len = items.len() as i64;
                            break;
                        }
                        View::Str(s) => {
                            len = s.chars().count() as i64;
                            break;
                        }
                        _ => return err("length of a non-sequence"),
                    }
                }
                Ok(self.heap.int(len))
            }
            "display" => {
                arity(1)?;
                let s = self.show(&args[0])?;
                self.output.push_str(&s);
                self.output.push('\n');
                Ok(args.into_iter().next().expect("1"))
            }
            _ => err(format!("unknown function {n}")),
        }
    }
}

impl<H: Heap> core::fmt::Debug for Interp<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Interp")
            .field("functions", &self.funcs.len())
            .field("depth", &self.depth)
            .finish()
    }
}

/// The demonstration program: `fib`, `map`, `reverse`, strings and vectors.
pub const DEMO: &str = r#"
(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))
(define (map f l) (if (null? l) '() (cons (f (car l)) (map f (cdr l)))))
(define (rev-acc l acc) (if (null? l) acc (rev-acc (cdr l) (cons (car l) acc))))
(define (reverse l) (rev-acc l '()))
(define (iota n) (if (= n 0) '() (cons n (iota (- n 1)))))
(define (square x) (* x x))
(define (tag x) (vector x "sq" (square x)))
(display (fib 15))
(display (map square (iota 10)))
(display (reverse (iota 10)))
(display (map tag (list 1 2 3)))
(display (reverse '(a "b" (c d))))
(length (map fib (iota 12)))
"#;

/// What [`DEMO`] displays, line by line.
pub const DEMO_OUTPUT: &str = "610\n\
(100 81 64 49 36 25 16 9 4 1)\n\
(1 2 3 4 5 6 7 8 9 10)\n\
(#(1 \"sq\" 1) #(2 \"sq\" 4) #(3 \"sq\" 9))\n\
((c d) \"b\" a)\n";
