"""Initial schema: schools, roster, accounts, events and photos.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 11:07:17.218696
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('schools',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schools')),
    sa.UniqueConstraint('slug', name=op.f('uq_schools_slug'))
    )
    op.create_table('classrooms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('school_year', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_classrooms_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_classrooms')),
    sa.UniqueConstraint('school_id', 'school_year', 'grade', 'name', name=op.f('uq_classrooms_school_id_school_year_grade_name'))
    )
    op.create_index(op.f('ix_classrooms_school_id'), 'classrooms', ['school_id'], unique=False)
    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('event_date', sa.Date(), nullable=False),
    sa.Column('sale_starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sale_ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_events_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    op.create_index(op.f('ix_events_school_id'), 'events', ['school_id'], unique=False)
    op.create_table('families',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_families_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_families')),
    sa.UniqueConstraint('school_id', 'reference', name=op.f('uq_families_school_id_reference'))
    )
    op.create_index(op.f('ix_families_school_id'), 'families', ['school_id'], unique=False)
    op.create_table('staff_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('photographer', 'school_admin', 'operator', name='staff_role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('totp_secret', sa.String(length=64), nullable=True),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_staff_users_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_users_email'))
    )
    op.create_index(op.f('ix_staff_users_school_id'), 'staff_users', ['school_id'], unique=False)
    op.create_table('event_classrooms',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('classroom_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['classroom_id'], ['classrooms.id'], name=op.f('fk_event_classrooms_classroom_id_classrooms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_classrooms_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', 'classroom_id', name=op.f('pk_event_classrooms'))
    )
    op.create_table('event_photographers',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_photographers_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_event_photographers_staff_user_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', 'staff_user_id', name=op.f('pk_event_photographers'))
    )
    op.create_table('guardians',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer', sa.String(length=255), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=True),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], name=op.f('fk_guardians_family_id_families'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guardians')),
    sa.UniqueConstraint('issuer', 'subject', name=op.f('uq_guardians_issuer_subject'))
    )
    op.create_index(op.f('ix_guardians_family_id'), 'guardians', ['family_id'], unique=False)
    op.create_table('photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'ready', 'failed', name='photo_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('original_sha256', sa.String(length=64), nullable=False),
    sa.Column('master_sha256', sa.String(length=64), nullable=True),
    sa.Column('byte_size', sa.Integer(), nullable=False),
    sa.Column('failure_reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_photos_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photos')),
    sa.UniqueConstraint('event_id', 'original_sha256', name=op.f('uq_photos_event_id_original_sha256'))
    )
    op.create_index(op.f('ix_photos_event_id'), 'photos', ['event_id'], unique=False)
    op.create_table('students',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], name=op.f('fk_students_family_id_families'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_students_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_students'))
    )
    op.create_index(op.f('ix_students_family_id'), 'students', ['family_id'], unique=False)
    op.create_index(op.f('ix_students_school_id'), 'students', ['school_id'], unique=False)
    op.create_table('enrolments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('classroom_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['classroom_id'], ['classrooms.id'], name=op.f('fk_enrolments_classroom_id_classrooms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_enrolments_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolments')),
    sa.UniqueConstraint('student_id', 'classroom_id', name=op.f('uq_enrolments_student_id_classroom_id'))
    )
    op.create_index(op.f('ix_enrolments_classroom_id'), 'enrolments', ['classroom_id'], unique=False)
    op.create_index(op.f('ix_enrolments_student_id'), 'enrolments', ['student_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_enrolments_student_id'), table_name='enrolments')
    op.drop_index(op.f('ix_enrolments_classroom_id'), table_name='enrolments')
    op.drop_table('enrolments')
    op.drop_index(op.f('ix_students_school_id'), table_name='students')
    op.drop_index(op.f('ix_students_family_id'), table_name='students')
    op.drop_table('students')
    op.drop_index(op.f('ix_photos_event_id'), table_name='photos')
    op.drop_table('photos')
    op.drop_index(op.f('ix_guardians_family_id'), table_name='guardians')
    op.drop_table('guardians')
    op.drop_table('event_photographers')
    op.drop_table('event_classrooms')
    op.drop_index(op.f('ix_staff_users_school_id'), table_name='staff_users')
    op.drop_table('staff_users')
    op.drop_index(op.f('ix_families_school_id'), table_name='families')
    op.drop_table('families')
    op.drop_index(op.f('ix_events_school_id'), table_name='events')
    op.drop_table('events')
    op.drop_index(op.f('ix_classrooms_school_id'), table_name='classrooms')
    op.drop_table('classrooms')
    op.drop_table('schools')
