"""Online learning shared by the products: contextual bandits that learn while they decide
(MDL-003's throttle bandit today; the marketing product's Thompson sampling next)."""
