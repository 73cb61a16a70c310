"""Every byte format s1lab speaks, declared once with construct. No behaviour here."""
