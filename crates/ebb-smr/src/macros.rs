//! Items that every scheme's `Domain` has in exactly the same form.

/// Expands, in a scheme's module, to `Default for Domain`, the generic [`Smr`](crate::Smr)
/// interface of `Domain` (forwarding to its inherent `register` and `stats`) and, outside
/// loom, the process-wide `default_domain()`. `$scheme` names the scheme in its docs.
macro_rules! domain_common {
    ($scheme:literal) => {
        impl Default for Domain {
            fn default() -> Self {
                Domain::new()
            }
        }

        #[doc = concat!("The process-wide default ", $scheme, " domain.")]
        #[cfg(not(ebb_loom))]
        pub fn default_domain() -> &'static Domain {
            static DEFAULT: std::sync::OnceLock<Domain> = std::sync::OnceLock::new();
            DEFAULT.get_or_init(Domain::new)
        }

        impl crate::Smr for Domain {
            type Handle = Handle;

            fn register(&self) -> Handle {
                Domain::register(self)
            }

            fn stats(&self) -> Stats {
                Domain::stats(self)
            }

            fn id(&self) -> DomainId {
                self.global.id
            }
        }
    };
}
