"""SMETS1 migration on the DCC side: inventory, files (MGF/SCF), TMAD rules, the S1SP engine."""
