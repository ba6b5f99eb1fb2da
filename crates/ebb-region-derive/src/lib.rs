//! `#[derive(Trace)]` for `ebb-region`.
//!
//! The derived impl visits every field of a struct, or of the active variant of an enum,
//! in declaration order, and requires (through those calls) each field's type to be `Trace` (so the impl's
//! safety rests on the field impls). `HAS_EDGES` is the `||` of the fields'. Unions are
//! refused. Generic parameters get a `Trace` bound.
//!
//! ```ignore
//! #[derive(Clone, Copy, ebb_region::Trace)]
//! struct Cons { car: i64, cdr: Option<ebb_region::RPtr<Cons>> }
//! ```
//!
//! The generated code names the crate `::ebb_region`; a crate that reaches it under
//! another path (the facade `ebb`) sets `#[trace(crate = "ebb::region")]`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, Ident, parse_macro_input, spanned::Spanned};

/// Derives `ebb_region::Trace`.
#[proc_macro_derive(Trace, attributes(trace))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn crate_path(input: &DeriveInput) -> syn::Result<syn::Path> {
    let mut path: syn::Path = syn::parse_quote!(::ebb_region);
    for attr in &input.attrs {
        if attr.path().is_ident("trace") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("crate") {
                    let s: syn::LitStr = meta.value()?.parse()?;
                    path = s.parse()?;
                    Ok(())
                } else {
                    Err(meta.error("expected `crate = \"path\"`"))
                }
            })?;
        }
    }
    Ok(path)
}

/// Visits and types of the fields of one struct or variant: (binding pattern, visit
/// statements, field types).
fn fields(fields: &Fields, krate: &syn::Path) -> (TokenStream2, Vec<TokenStream2>, Vec<syn::Type>) {
    let mut stmts = Vec::new();
    let mut tys = Vec::new();
    let pat = match fields {
        Fields::Named(f) => {
            let names: Vec<&Ident> = f
                .named
                .iter()
                .map(|x| x.ident.as_ref().expect("named"))
                .collect();
            for x in &f.named {
                let n = x.ident.as_ref().expect("named");
                stmts.push(quote! { #krate::Trace::trace(#n, __t); });
                tys.push(x.ty.clone());
            }
            quote! { { #(#names),* } }
        }
        Fields::Unnamed(f) => {
            let names: Vec<Ident> = (0..f.unnamed.len())
                .map(|i| format_ident!("__f{}", i))
                .collect();
            for (n, x) in names.iter().zip(&f.unnamed) {
                stmts.push(quote! { #krate::Trace::trace(#n, __t); });
                tys.push(x.ty.clone());
            }
            quote! { ( #(#names),* ) }
        }
        Fields::Unit => quote! {},
    };
    (pat, stmts, tys)
}

fn expand(input: DeriveInput) -> syn::Result<TokenStream2> {
    let krate = crate_path(&input)?;
    let name = &input.ident;
    let mut generics = input.generics.clone();
    for p in generics.type_params_mut() {
        p.bounds.push(syn::parse_quote!(#krate::Trace));
    }
    let (impl_g, ty_g, where_g) = generics.split_for_impl();
    let mut all_tys = Vec::new();
    let body = match &input.data {
        Data::Struct(s) => {
            let (pat, stmts, tys) = fields(&s.fields, &krate);
            all_tys.extend(tys);
            quote! { let #name #pat = self; #(#stmts)* }
        }
        Data::Enum(e) => {
            let mut arms = Vec::new();
            for v in &e.variants {
                let vn = &v.ident;
                let (pat, stmts, tys) = fields(&v.fields, &krate);
                all_tys.extend(tys);
                arms.push(quote! { #name::#vn #pat => { #(#stmts)* } });
            }
            if arms.is_empty() {
                quote! { match *self {} }
            } else {
                quote! { match self { #(#arms)* } }
            }
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span(),
                "Trace cannot be derived for unions",
            ));
        }
    };
    let has_edges = if all_tys.is_empty() {
        quote! { false }
    } else {
        quote! { false #(|| <#all_tys as #krate::Trace>::HAS_EDGES)* }
    };
    // Field types are not put in the where clause (a recursive type would make the
    // bound cyclic); the body's calls require each field to be `Trace` all the same.
    let where_clause = where_g;
    Ok(quote! {
        // SAFETY: every field is `Trace` (`trace` calls each field's impl), and `trace` visits each of
        // them; a struct or enum of `Trace` fields adds no ownership or shared mutability.
        #[automatically_derived]
        unsafe impl #impl_g #krate::Trace for #name #ty_g #where_clause {
            const HAS_EDGES: bool = #has_edges;
            #[inline]
            #[allow(unused_variables)]
            fn trace<__V: #krate::Tracer>(&mut self, __t: &mut __V) {
                #body
            }
        }
    })
}
