"""The whole system against spec §11: the same sealed world's future run three ways (business as
usual, adaptive, oracle) and every §11 metric measured per message sent on the twin's truth."""
