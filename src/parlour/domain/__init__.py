"""Plain types and errors shared by every layer; imports nothing of Parlour's."""
